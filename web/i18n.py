"""Languages of the public site: gettext catalogs compiled at start-up, one Jinja2
environment per language, and the choice of language per request (``?lang=`` first, then
``Accept-Language``; nothing is remembered between requests: public pages set no cookie)."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

WEB = Path(__file__).parent
TEMPLATES = WEB / "templates"
TRANSLATIONS = WEB / "translations"


class CatalogError(Exception):
    """A language is configured but its catalog is missing or unreadable."""


def load_translations(code: str) -> gettext.NullTranslations:
    """Compile ``web/translations/<code>/LC_MESSAGES/messages.po`` in memory."""
    if code == "en":
        return gettext.NullTranslations()  # the templates are written in English
    path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=code)
    except (OSError, ValueError) as exc:
        raise CatalogError(f"no usable catalog for language {code!r} at {path}") from exc
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Languages:
    """One Jinja2 environment and one gettext catalog per configured language."""

    def __init__(self, codes: tuple[str, ...], default: str) -> None:
        self.codes = codes
        self.default = default if default in codes else codes[0]
        self.translations = {code: load_translations(code) for code in codes}
        self.environments = {code: self._environment(code) for code in codes}

    def _environment(self, code: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            auto_reload=False,
        )
        env.install_gettext_translations(self.translations[code], newstyle=True)  # type: ignore[attr-defined]
        return env

    def gettext(self, code: str) -> Callable[[str], str]:
        return self.translations[code].gettext

    def choose(self, request: Request) -> str:
        asked = request.query_params.get("lang", "")
        if asked in self.codes:
            return asked
        for candidate in _accept_language(request.headers.get("accept-language", "")):
            if candidate in self.codes:
                return candidate
        return self.default

    def render(self, code: str, name: str, context: dict[str, Any]) -> str:
        return self.environments[code].get_template(name).render(context)


def _accept_language(header: str) -> list[str]:
    """Primary language subtags in the order of their q-values."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:500].split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.isalpha() and quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _q, _i, tag in sorted(weighted)]
