"""The container files hold the hardened layout: read and checked here, since no image can
be built on this machine (no registry). ``docker compose config`` validates the compose file
when a compose tool is installed."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from redis.asyncio.connection import parse_url

from hotline import db, keys
from hotline.errors import KeyFileError
from hotline.queue import redis_settings
from hotline.settings import load_settings
from tests.conftest import CHEAP, free_port
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
HOTLINE_SERVICES = ("public", "dashboard", "worker", "migrate", "keys-init")
KEYS_TARGET = "/var/lib/hotline/keys"
POSTGRES_ADMIN_DSN = os.environ.get(
    "HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def final_stage(text: str) -> list[str]:
    """The instructions of the Dockerfile's last stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


def volume_targets(service: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        pairs.append((source, target))
    return pairs


# --- the image ---------------------------------------------------------------------------


def test_the_image_is_built_in_stages_on_python_311_slim() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) >= 2
    assert all(image == "${PYTHON_IMAGE}" for image in froms)
    assert any(line.startswith("COPY --from=build") for line in final_stage(text))


def test_the_image_runs_as_a_fixed_non_root_uid() -> None:
    users = [
        line.split()[1] for line in final_stage(DOCKERFILE.read_text()) if line.startswith("USER ")
    ]
    assert users, "the final stage sets a USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit()
    assert int(uid) >= 1000
    assert gid.isdigit()
    assert int(gid) >= 1000


def test_the_image_installs_the_wheel_without_test_or_dev_extras() -> None:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert ".whl" in line
        assert "[" not in line.split("pip install", 1)[1]  # no extras
        assert " -e " not in line


def test_the_image_writes_nothing_at_run_time_and_checks_healthz() -> None:
    stage = " ".join(final_stage(DOCKERFILE.read_text()))
    assert "PYTHONDONTWRITEBYTECODE=1" in stage
    assert re.search(r"HEALTHCHECK .*?/healthz", stage)
    # The catalogs are compiled in memory (web/i18n.py writes no .mo file), so nothing in
    # the image needs to be writable for them.
    i18n = (ROOT / "web" / "i18n.py").read_text()
    assert "BytesIO()" in i18n
    assert ".mo" not in i18n.replace(".mofile", "")


def test_the_image_bakes_in_no_secret_and_copies_no_keys_or_data() -> None:
    text = DOCKERFILE.read_text()
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if line.startswith(("ENV ", "ARG ")):
            assert not re.search(r"PASSWORD|PASSPHRASE|TOKEN|SECRET|_KEY\b", line), line
        if line.startswith("COPY "):
            assert not re.search(r"\bkeys\b|\bdata\b|secrets|\.env", line), line
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[[line.strip() for line in ignore].index("**")] == "**"  # deny by default


# --- compose -----------------------------------------------------------------------------


def test_every_container_runs_read_only_without_capabilities_or_new_privileges(
    compose: dict[str, Any],
) -> None:
    for name, service in services(compose).items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert not service.get("cap_add"), name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert not service.get("privileged"), name
        assert any(str(t).split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), name
        uid = str(service.get("user", "0")).split(":")[0]
        assert uid.isdigit(), name
        assert int(uid) != 0, name


def test_the_hotline_services_run_the_image_as_its_uid(compose: dict[str, Any]) -> None:
    image_uid = next(
        line.split()[1] for line in final_stage(DOCKERFILE.read_text()) if line.startswith("USER ")
    )
    for name in HOTLINE_SERVICES:
        service = services(compose)[name]
        assert service["user"] == image_uid, name
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name


def test_redis_requires_a_password_from_a_secret_and_publishes_no_port(
    compose: dict[str, Any],
) -> None:
    redis = services(compose)["redis"]
    command = " ".join(redis["command"])
    assert re.search(r"requirepass %s.*cat /run/secrets/redis_password", command)
    assert "--protected-mode yes" in command
    assert "redis_password" in redis["secrets"]
    assert "ports" not in redis
    assert redis["networks"] == ["backend"]
    assert compose["networks"]["backend"]["internal"] is True


def test_postgres_takes_its_password_from_a_secret_and_publishes_no_port(
    compose: dict[str, Any],
) -> None:
    postgres = services(compose)["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    assert "ports" not in postgres
    assert postgres["networks"] == ["backend"]


def test_no_service_but_the_web_roles_publishes_a_port_and_none_on_every_address(
    compose: dict[str, Any],
) -> None:
    published = {name: s["ports"] for name, s in services(compose).items() if "ports" in s}
    assert set(published) == {"public", "dashboard"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), (name, port)  # never 0.0.0.0 or bare


def test_the_dashboard_and_public_ports_match_the_proxy_and_onion_configs(
    compose: dict[str, Any],
) -> None:
    public_port = services(compose)["public"]["ports"][0].split(":")[1]
    dashboard_port = services(compose)["dashboard"]["ports"][0].split(":")[1]
    nginx = (DEPLOY / "nginx" / "hotline.conf").read_text()
    torrc = (DEPLOY / "tor" / "torrc").read_text()
    assert f"proxy_pass http://127.0.0.1:{public_port};" in nginx
    assert "location /dashboard { return 404; }" in nginx  # not over the internet
    onion_targets = re.findall(r"HiddenServicePort 80 (\S+)", torrc)
    assert onion_targets == [f"127.0.0.1:{public_port}", f"127.0.0.1:{dashboard_port}"]


def test_the_public_role_is_given_only_the_public_key_and_the_hash_key(
    compose: dict[str, Any],
) -> None:
    public = services(compose)["public"]
    mounts = volume_targets(public)
    assert sorted(target for _source, target in mounts) == sorted(
        f"{KEYS_TARGET}/{name}" for name in (keys.PUBLIC_FILE, keys.HASH_FILE)
    )
    assert all(not source.rstrip("/").endswith("keys") for source, _target in mounts)
    assert "key_passphrase" not in public.get("secrets", [])
    assert not any("PASSPHRASE" in name for name in public["environment"])
    for name in ("dashboard", "worker"):
        assert ("./keys", KEYS_TARGET) in volume_targets(services(compose)[name])


def test_the_public_role_starts_with_the_files_compose_gives_it_and_the_dashboard_cannot(
    compose: dict[str, Any], template_data_dir: Path, tmp_path: Path
) -> None:
    """The mounts above are enough for the public role and too little for a private one."""
    data_dir = tmp_path / "public"
    (data_dir / "keys").mkdir(parents=True)
    for _source, target in volume_targets(services(compose)["public"]):
        name = Path(target).name
        shutil.copy2(template_data_dir / "keys" / name, data_dir / "keys" / name)
    settings = load_settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{tmp_path / 'public.db'}",
        redis_url="",
        environment="development",
        key_passphrase="test passphrase",
        **CHEAP,
    )
    app = create_app(settings, role="public")
    assert app.state.dashboard is None
    with pytest.raises(KeyFileError):
        create_app(settings, role="dashboard")


def test_the_databases_are_reached_on_the_internal_network_only(compose: dict[str, Any]) -> None:
    for name in ("public", "dashboard", "worker", "migrate"):
        service = services(compose)[name]
        environment = service["environment"]
        assert environment["HOTLINE_REDIS_URL"].startswith("redis://redis:")
        assert environment["HOTLINE_DATABASE_URL"].startswith("postgresql://hotline@postgres:")
        assert "backend" in service["networks"], name
        # Passwords come from files, never from the compose file or the environment.
        assert environment["HOTLINE_DATABASE_PASSWORD_FILE"].startswith("/run/secrets/")
        assert "@" not in environment["HOTLINE_REDIS_URL"]
    assert services(compose)["keys-init"]["network_mode"] == "none"


# --- the entrypoint ----------------------------------------------------------------------


def run_entrypoint(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "env"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_entrypoint_turns_secret_files_into_the_settings(tmp_path: Path) -> None:
    secrets = {
        "redis": "9f2c" * 8,
        "postgres": "a1b2" * 8,
        "passphrase": "a long passphrase with spaces",
    }
    for name, value in secrets.items():
        (tmp_path / name).write_text(value + "\n")
    done = run_entrypoint(
        {
            "HOTLINE_REDIS_URL": "redis://redis:6379/0",
            "HOTLINE_REDIS_PASSWORD_FILE": str(tmp_path / "redis"),
            "HOTLINE_DATABASE_URL": "postgresql://hotline@postgres:5432/hotline",
            "HOTLINE_DATABASE_PASSWORD_FILE": str(tmp_path / "postgres"),
            "HOTLINE_KEY_PASSPHRASE_FILE": str(tmp_path / "passphrase"),
        }
    )
    assert done.returncode == 0, done.stderr
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert env["HOTLINE_KEY_PASSPHRASE"] == secrets["passphrase"]
    assert not any(name.endswith("_FILE") for name in env)
    # What Hotline then makes of them: the URLs carry the passwords to both clients.
    settings = load_settings(
        redis_url=env["HOTLINE_REDIS_URL"],
        database_url=env["HOTLINE_DATABASE_URL"],
        key_passphrase=env["HOTLINE_KEY_PASSPHRASE"],
    )
    assert redis_settings(settings.redis_url).password == secrets["redis"]
    assert parse_url(settings.redis_url)["host"] == "redis"
    assert settings.resolved_database_url == (
        f"postgresql+asyncpg://hotline:{secrets['postgres']}@postgres:5432/hotline"
    )


def test_the_entrypoint_stops_on_an_unreadable_secret_file_without_printing_values(
    tmp_path: Path,
) -> None:
    done = run_entrypoint(
        {
            "HOTLINE_REDIS_URL": "redis://redis:6379/0",
            "HOTLINE_REDIS_PASSWORD_FILE": str(tmp_path / "missing"),
        }
    )
    assert done.returncode == 2
    assert "HOTLINE_REDIS_PASSWORD_FILE" in done.stderr
    assert done.stdout == ""


# --- the compose tool, when there is one -------------------------------------------------


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose or docker-compose on this machine")
    done = subprocess.run(
        [*command, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=DEPLOY,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr


# --- the public role on the container's data layout --------------------------------------


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and modification time."""
    found = {}
    for root in roots:
        for path in root.rglob("*"):
            stat = path.stat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, as the compose file gives the roles."""
    name = f"hotline_deploy_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name}"))
    yield f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.mark.slow
def test_the_public_role_serves_from_only_its_two_key_files_and_writes_no_file(
    compose: dict[str, Any], template_data_dir: Path, tmp_path: Path, pg_url: str
) -> None:
    """``hotline serve --role public`` as the container runs it: the data directory holds
    only what compose mounts, the database is PostgreSQL, and nothing is written to disk."""
    data_dir, home = tmp_path / "var-lib-hotline", tmp_path / "home"
    (data_dir / "keys").mkdir(parents=True)
    home.mkdir()
    for _source, target in volume_targets(services(compose)["public"]):
        name = Path(target).name
        shutil.copy2(template_data_dir / "keys" / name, data_dir / "keys" / name)
    db.upgrade(load_settings(data_dir=tmp_path, database_url=pg_url))
    before = snapshot(data_dir, home)
    port = free_port()
    log = tmp_path / "public.log"
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOTLINE_ENVIRONMENT": "production",
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_DATABASE_URL": pg_url,
        "HOTLINE_REDIS_URL": "",
        **{f"HOTLINE_{key.upper()}": str(value) for key, value in CHEAP.items()},
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "serve", "--role", "public", "--port", str(port)],
            env=environment,
            cwd=data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            answer = httpx.post(base + "/report", data={"what": "a van outside every night"})
            assert answer.status_code == 303
            assert httpx.get(base + "/dashboard", timeout=5).status_code == 404
        finally:
            process.terminate()
            process.wait(timeout=15)

    async def tip_count() -> int:
        conn = await asyncpg.connect(pg_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM tips"))
        finally:
            await conn.close()

    assert asyncio.run(tip_count()) == 1
    assert snapshot(data_dir, home) == before
