#!/bin/sh
# Hotline's container entrypoint: turn secret FILES into the settings Hotline reads, then
# exec the command. Secrets stay out of the image, the compose file and `docker inspect`.
#
#   HOTLINE_KEY_PASSPHRASE_FILE               -> HOTLINE_KEY_PASSPHRASE (dashboard, worker only)
#   HOTLINE_TWILIO_AUTH_TOKEN_FILE            -> HOTLINE_TWILIO_AUTH_TOKEN
#   HOTLINE_TWILIO_AUTH_TOKEN_SECONDARY_FILE  -> HOTLINE_TWILIO_AUTH_TOKEN_SECONDARY
#   HOTLINE_REDIS_PASSWORD_FILE    the password put into HOTLINE_REDIS_URL
#                                  (redis://host:6379/0 -> redis://:<password>@host:6379/0)
#   HOTLINE_DATABASE_PASSWORD_FILE the password put into HOTLINE_DATABASE_URL
#                                  (postgresql://user@host/db -> postgresql://user:<password>@host/db)
#
# Passwords go into URLs as they are: make them URL-safe (openssl rand -hex 32).
# Nothing here prints a value.
set -eu

read_secret() {
    # The file's content without its trailing newline; fail, naming the variable, if unreadable.
    if [ ! -r "$2" ]; then
        echo "hotline-entrypoint: $1 names a file that cannot be read" >&2
        exit 2
    fi
    cat "$2"
}

for name in HOTLINE_KEY_PASSPHRASE HOTLINE_TWILIO_AUTH_TOKEN HOTLINE_TWILIO_AUTH_TOKEN_SECONDARY; do
    eval "path=\${${name}_FILE:-}"
    if [ -n "$path" ]; then
        value=$(read_secret "${name}_FILE" "$path")
        export "$name=$value"
        unset "${name}_FILE"
    fi
done

if [ -n "${HOTLINE_REDIS_PASSWORD_FILE:-}" ]; then
    password=$(read_secret HOTLINE_REDIS_PASSWORD_FILE "$HOTLINE_REDIS_PASSWORD_FILE")
    scheme=${HOTLINE_REDIS_URL%%://*}
    rest=${HOTLINE_REDIS_URL#*://}
    export HOTLINE_REDIS_URL="${scheme}://:${password}@${rest}"
    unset HOTLINE_REDIS_PASSWORD_FILE
fi

if [ -n "${HOTLINE_DATABASE_PASSWORD_FILE:-}" ]; then
    password=$(read_secret HOTLINE_DATABASE_PASSWORD_FILE "$HOTLINE_DATABASE_PASSWORD_FILE")
    scheme=${HOTLINE_DATABASE_URL%%://*}
    rest=${HOTLINE_DATABASE_URL#*://}
    user=${rest%%@*}
    host=${rest#*@}
    export HOTLINE_DATABASE_URL="${scheme}://${user}:${password}@${host}"
    unset HOTLINE_DATABASE_PASSWORD_FILE
fi
unset password value 2>/dev/null || true

exec "$@"
