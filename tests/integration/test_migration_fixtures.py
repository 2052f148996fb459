"""Upgrades from committed, populated databases of every schema version.

``tests/fixtures/migrations/<revision>.sqlite`` is a database at exactly that revision,
filled through the real code paths and sealed to the test-only fixture keys beside it
(``scripts/make_migration_fixtures.py`` makes them). Each is copied, upgraded to head and
then used: every row is still there, every tip opens, the dashboard shows it and its
reporter can still follow it up. A new revision without a fixture of its own fails here.
"""

from __future__ import annotations

import asyncio
import html
import json
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from hotline import casefile, db, keys
from hotline.settings import Settings, load_settings
from hotline.tables import metadata
from tests.conftest import CHEAP, CLIENT_ADDRESS
from tests.dashboard_helpers import sign_in
from web.app import create_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "migrations"
SCRIPT = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
REVISIONS = [rev.revision for rev in reversed(list(SCRIPT.walk_revisions()))]
HEAD = SCRIPT.get_current_head()
MAX_BYTES = 200 * 1024


def manifest(revision: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{revision}.json").read_text())
    return data


def fixture_settings(data_dir: Path, passphrase: str) -> Settings:
    """SQLite on the copy whatever database the suite runs on: the fixtures are SQLite."""
    return load_settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'hotline.db'}",
        redis_url="",
        environment="development",
        key_passphrase=passphrase,
        **CHEAP,
    )


def row_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {}
        for name in names:
            query = f'SELECT count(*) FROM "{name}"'  # noqa: S608 - names from the schema
            counts[name] = conn.execute(query).fetchone()[0]
        return counts


def version_of(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def copy_fixture(revision: str, tmp_path: Path) -> tuple[Settings, dict[str, Any]]:
    data_dir = tmp_path / f"data-{revision}"
    data_dir.mkdir()
    shutil.copy2(FIXTURES / f"{revision}.sqlite", data_dir / "hotline.db")
    shutil.copytree(FIXTURES / "keys", data_dir / "keys")
    found = manifest(revision)
    return fixture_settings(data_dir, found["passphrase"]), found


def test_every_revision_has_its_committed_fixture() -> None:
    """A revision added without running scripts/make_migration_fixtures.py fails here."""
    assert sorted(path.stem for path in FIXTURES.glob("*.sqlite")) == sorted(REVISIONS)
    assert sorted(path.stem for path in FIXTURES.glob("*.json")) == sorted(REVISIONS)


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_fixture_is_small_self_contained_and_at_its_revision(revision: str) -> None:
    path = FIXTURES / f"{revision}.sqlite"
    assert path.stat().st_size < MAX_BYTES
    assert not Path(f"{path}-wal").exists()
    assert version_of(path) == revision
    counts = row_counts(path)
    # Populated: every table of that revision holds rows (the generator checks it at head).
    assert [name for name, count in counts.items() if count == 0] == []


@pytest.mark.parametrize("revision", REVISIONS)
def test_upgrading_a_fixture_to_head_keeps_every_row(revision: str, tmp_path: Path) -> None:
    settings, _found = copy_fixture(revision, tmp_path)
    path = settings.data_dir / "hotline.db"
    before = row_counts(path)
    db.upgrade(settings)
    after = row_counts(path)
    assert version_of(path) == HEAD
    assert {name: after.get(name) for name in before if name != "alembic_version"} == {
        name: count for name, count in before.items() if name != "alembic_version"
    }
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    engine.dispose()
    assert diff == []
    assert broken == []


@pytest.mark.parametrize("revision", REVISIONS)
def test_every_tip_of_an_upgraded_fixture_opens_with_the_fixture_key(
    revision: str, tmp_path: Path
) -> None:
    settings, found = copy_fixture(revision, tmp_path)
    db.upgrade(settings)
    opener = keys.load_opener(settings.keys_dir, found["passphrase"])

    async def open_all() -> list[casefile.CaseFile]:
        engine = db.create_engine(settings)
        try:
            return [
                await casefile.load_case(engine, opener, uuid.UUID(tip["id"]))
                for tip in found["tips"]
            ]
        finally:
            await engine.dispose()

    cases = asyncio.run(open_all())
    assert len(cases) == len(found["tips"]) >= 7
    for case, tip in zip(cases, found["tips"], strict=True):
        assert tip["text"] in case.text
    messages = [message.text for case in cases for message in case.messages]
    assert "He keeps the passports in a safe" in messages
    assert "Thank you. Are you safe where you are now?" in messages


@pytest.mark.parametrize("revision", REVISIONS)
def test_the_dashboard_and_the_follow_up_page_serve_an_upgraded_tip(
    revision: str, tmp_path: Path
) -> None:
    settings, found = copy_fixture(revision, tmp_path)
    db.upgrade(settings)
    followed = found["tips"][1]  # a web tip whose reporter came back and got a reply

    async def visit() -> tuple[int, str, int, str, int, int]:
        app = create_app(settings, role="all")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
            async with httpx.AsyncClient(
                transport=transport, base_url="https://testserver"
            ) as client:
                await sign_in(app, client, role="supervisor")
                view = await client.get(f"/dashboard/tips/{followed['id']}")
                opened = await client.post("/followup", data={"receipt": followed["receipt"]})
                added = await client.post(
                    "/followup/add",
                    data={"receipt": followed["receipt"], "text": "One more detail after upgrade"},
                )
            opener = app.state.dashboard.opener
            case = await casefile.load_case(app.state.engine, opener, uuid.UUID(followed["id"]))
        texts = [message.text for message in case.messages]
        return (
            view.status_code,
            view.text,
            opened.status_code,
            opened.text,
            added.status_code,
            texts.count("One more detail after upgrade"),
        )

    view_status, view_page, open_status, open_page, add_status, added = asyncio.run(visit())
    assert view_status == 200
    # The report itself is shown with triage's highlights; the reporter's addition is plain.
    assert followed["reference"] in view_page
    assert html.escape("He keeps the passports in a safe") in view_page
    assert open_status == 200
    assert "Are you safe where you are now?" in open_page  # the reply, opened by the receipt
    assert add_status in (200, 303)
    assert added == 1


@pytest.mark.parametrize("revision", REVISIONS[1:])
def test_downgrading_an_upgraded_fixture_and_upgrading_again_keeps_the_rows(
    revision: str, tmp_path: Path
) -> None:
    settings, _found = copy_fixture(revision, tmp_path)
    path = settings.data_dir / "hotline.db"
    previous = SCRIPT.get_revision(revision).down_revision
    assert isinstance(previous, str)
    db.upgrade(settings)
    at_head = row_counts(path)
    db.downgrade(settings, previous)
    kept = row_counts(path)
    assert version_of(path) == previous
    db.upgrade(settings)
    again = row_counts(path)
    # The tables that exist at the earlier revision keep every row both ways.
    for name in kept:
        if name != "alembic_version":
            assert kept[name] == at_head[name], name
            assert again[name] == at_head[name], name
