"""Every configured language has a complete, well-formed catalog."""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hotline.settings import Settings
from web.i18n import TRANSLATIONS, WEB, Languages

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
LANGUAGES = [code for code in Settings().language_codes if code != "en"]


def extracted_messages() -> set[str]:
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "silent": "false"}}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options, keywords={"_": None, "N_": None, "gettext": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_catalog_translates_every_message_of_the_site(code: str) -> None:
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=code)
    translated = {m.id: m for m in catalog if m.id}
    missing = sorted(msg for msg in extracted_messages() if msg not in translated)
    assert not missing, f"{code}: untranslated {missing[:5]}"
    for message in translated.values():
        assert message.string, f"{code}: empty translation of {message.id!r}"
        assert not message.fuzzy, f"{code}: fuzzy translation of {message.id!r}"
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        msgstr = message.string if isinstance(message.string, str) else message.string[0]
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(msgstr)), msgid


def test_every_language_loads_and_renders_every_public_page() -> None:
    languages = Languages(Settings().language_codes, "en")
    templates = sorted(p.name for p in (WEB / "templates" / "public").glob("*.html"))
    assert "report.html" in templates
    for code in languages.codes:
        html = languages.render(code, "public/index.html", _context(code))
        assert f'lang="{code}"' in html


def _context(code: str) -> dict[str, object]:
    return {
        "lang": code,
        "url": lambda path, **_kw: f"{path}?lang={code}",
        "switch_lang_url": "/?lang=en",
        "switch_lang_label": "English",
        "quick_exit_url": "https://www.wikipedia.org/",
        "emergency_numbers": "911",
    }
