"""The public "Get help" page: public, active partner services, the reader's language first."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import referrals
from hotline.referrals import ServiceDraft
from tests.conftest import make_settings
from web.app import HotlineApp, create_app

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def fill_directory(engine: AsyncEngine) -> None:
    for draft in (
        ServiceDraft(
            kind="shelter",
            name="Casa Refugio",
            languages="es",
            region="Riverside",
            hours="24 horas",
            contact="555-0142",
            description="Alojamiento seguro.\nNiños bienvenidos.",
            public=True,
        ),
        ServiceDraft(kind="legal", name="Open Door Legal Aid", languages="en", public=True),
        ServiceDraft(kind="counselling", name="Both Ways Line", languages="en,es", public=True),
        ServiceDraft(kind="medical", name="Clinique Soleil", languages="fr,ht", public=True),
        ServiceDraft(kind="interpreter", name="Staff Only Interpreters", languages="es,en"),
    ):
        await referrals.create_service(engine, draft)
    closed = await referrals.create_service(
        engine, ServiceDraft(kind="shelter", name="Closed Shelter", languages="es,en", public=True)
    )
    await referrals.set_active(engine, closed, False)


def position(html: str, text: str) -> int:
    assert text in html, text
    return html.index(text)


async def test_the_help_page_in_english_lists_english_services_first(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    await fill_directory(app.state.engine)
    answer = await client.get("/help?lang=en")
    assert answer.status_code == 200
    html = answer.text
    assert '<html lang="en">' in html
    assert "Staff Only Interpreters" not in html  # not public
    assert "Closed Shelter" not in html  # not active
    other = position(html, "Help in other languages")
    assert position(html, "Help in your language") < position(html, "Open Door Legal Aid") < other
    assert position(html, "Both Ways Line") < other
    assert other < position(html, "Casa Refugio")
    assert other < position(html, "Clinique Soleil")
    assert "French, Haitian Creole" in html  # the other services' languages, named
    assert "Safe places to stay" in html
    assert "Legal help" in html


async def test_the_help_page_in_spanish_lists_spanish_services_first_under_spanish_headings(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    await fill_directory(app.state.engine)
    answer = await client.get("/help?lang=es")
    assert answer.status_code == 200
    html = answer.text
    assert '<html lang="es">' in html
    assert "Buscar ayuda" in html
    assert "Staff Only Interpreters" not in html
    assert "Closed Shelter" not in html
    other = position(html, "Ayuda en otros idiomas")
    assert position(html, "Ayuda en tu idioma") < position(html, "Casa Refugio") < other
    assert position(html, "Both Ways Line") < other
    assert other < position(html, "Open Door Legal Aid")
    assert "Lugares seguros para quedarse" in html
    assert "Ayuda legal" in html
    assert "inglés" in html  # English, named in Spanish
    assert "<p>Alojamiento seguro.<br>Niños bienvenidos.</p>" in html
    assert "555-0142" in html
    assert "24 horas" in html


async def test_the_help_page_says_so_when_nothing_is_listed(client: httpx.AsyncClient) -> None:
    html = (await client.get("/help?lang=en")).text
    assert "No services are listed here yet." in html
    assert "Help in your language" not in html
    assert (await client.get("/help?lang=es")).text.count("Todavía no hay servicios") == 1


async def test_the_help_page_says_when_nothing_is_listed_in_the_readers_language(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    await referrals.create_service(
        app.state.engine,
        ServiceDraft(kind="medical", name="Clinique Soleil", languages="fr", public=True),
    )
    html = (await client.get("/help?lang=es")).text
    assert "Ayuda en tu idioma" not in html
    assert "Todavía no hay servicios en tu idioma en esta lista." in html
    assert "Clinique Soleil" in html
    assert "francés" in html


async def test_the_help_page_sets_no_cookie_and_sends_the_public_headers(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    await fill_directory(app.state.engine)
    for path in ("/help", "/help?lang=es"):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert "set-cookie" not in answer.headers
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert "<script>" not in answer.text  # the only script is the quick exit's src=


async def test_every_public_page_links_to_the_help_page_in_its_language(
    client: httpx.AsyncClient,
) -> None:
    for lang, label in (("en", "Get help"), ("es", "Buscar ayuda")):
        for path in ("/", "/signs", "/report"):
            html = (await client.get(f"{path}?lang={lang}")).text
            assert f'<a href="/help?lang={lang}">{label}</a>' in html


async def test_hostile_text_in_a_service_is_escaped_on_the_help_page(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    await referrals.create_service(
        app.state.engine,
        ServiceDraft(
            kind="shelter",
            name=HOSTILE,
            languages="en",
            region=HOSTILE[:100],
            contact=HOSTILE,
            hours=HOSTILE,
            description=HOSTILE,
            public=True,
        ),
    )
    html = (await client.get("/help")).text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert html.count("&lt;script&gt;") >= 5


async def test_the_public_role_serves_the_help_page_with_no_private_key(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    for path in (data_dir / "keys").glob("case-*.key"):
        path.unlink()
    app = create_app(make_settings(data_dir), role="public")  # and no passphrase
    async with app.router.lifespan_context(app):
        assert app.state.dashboard is None
        await referrals.create_service(
            app.state.engine,
            ServiceDraft(kind="legal", name="Open Door Legal Aid", languages="en", public=True),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.get("/help")
    assert answer.status_code == 200
    assert "Open Door Legal Aid" in answer.text
