"""Hand-off: one case file as a JSON bundle or a PDF dossier, built in memory.

The caller audits the export (``export_tip``) before loading the case; nothing here logs,
writes a file or reaches the network. The PDF embeds DejaVu Sans, shipped in
``hotline/fonts`` (Bitstream Vera licence, beside it), because the core PDF fonts are
Latin-1 only and a fresh server may have no system fonts. A character the font lacks
(Chinese, for one) is drawn as ``□`` and the dossier says so: the JSON bundle always holds
the text exactly. Arabic and Hebrew are drawn letter by letter, left to right (no shaping
engine is installed): the JSON bundle is the faithful copy for those too.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fpdf2's own dependency
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from hotline.casefile import CaseFile

FORMAT = "hotline-handoff"
VERSION = 1
FONT_FAMILY = "DejaVuSans"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
MISSING_GLYPH = "\u25a1"  # WHITE SQUARE, in the font
KEEP_CONTROLS = frozenset("\n")


def utc_iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the second: ``2026-01-05T10:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Export:
    """Who exports, when, and how indicator ids read (rule id → label)."""

    exported_by: str
    exported_at: datetime
    labels: Mapping[str, str]


# -- JSON -------------------------------------------------------------------------------


def case_document(case: CaseFile, export: Export) -> dict[str, Any]:
    """The hand-off bundle as plain data (what :func:`build_json` serialises)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utc_iso(export.exported_at),
        "exported_by": export.exported_by,
        "tip": {
            "reference": case.reference,
            "channel": case.channel,
            "lang": case.lang,
            "created_at": utc_iso(case.created_at),
            "status": case.status,
            "urgency": case.urgency,
            "triage_urgency": case.triage_urgency,
            "override": case.urgency_override,
            "category": case.category,
            "minors": case.minors,
            "indicators": [
                {"id": rule_id, "label": export.labels.get(rule_id, rule_id)}
                for rule_id in case.indicator_ids
            ],
            "close_reason": case.close_reason,
        },
        "report": case.text,
        "messages": [
            {
                "author": message.author,
                "channel": message.channel,
                "created_at": utc_iso(message.created_at),
                "username": message.username,
                "text": message.text,
            }
            for message in case.messages
        ],
        "notes": [
            {"created_at": utc_iso(note.created_at), "username": note.username, "text": note.text}
            for note in case.notes
        ],
        "overrides": [
            {
                "at": utc_iso(override.at),
                "username": override.username,
                "from": override.from_urgency,
                "to": override.to_urgency,
                "reason": override.reason,
            }
            for override in case.overrides
        ],
        "referrals": [
            {
                "service_id": referral.service_id,
                "name": referral.name,
                "kind": referral.kind,
                "created_at": utc_iso(referral.created_at),
                "username": referral.username,
            }
            for referral in case.referrals
        ],
        "events": [
            {
                "kind": event.kind,
                "at": utc_iso(event.at),
                "username": event.username,
                "detail": event.detail,
            }
            for event in case.events
        ],
    }


def build_json(case: CaseFile, export: Export) -> bytes:
    return json.dumps(
        case_document(case, export), ensure_ascii=False, indent=2, default=str
    ).encode("utf-8")


# -- PDF --------------------------------------------------------------------------------


def _font_file(name: str) -> Any:
    return resources.as_file(resources.files("hotline") / "fonts" / name)


@functools.cache
def _covered() -> frozenset[int]:
    """The code points every font of the dossier can draw."""
    covered: frozenset[int] | None = None
    with ExitStack() as stack:
        for name in FONT_FILES.values():
            path = stack.enter_context(_font_file(name))
            with TTFont(path, lazy=True) as font:
                points = frozenset(font.getBestCmap())
            covered = points if covered is None else covered & points
    return covered or frozenset()


def drawable(text: str) -> tuple[str, bool]:
    """``text`` as the font can draw it, and whether a character had to be replaced."""
    covered = _covered()
    replaced = False
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")):
        if char == "\t":
            out.append("    ")
        elif char in KEEP_CONTROLS:
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue  # controls, formatting marks, lone surrogates: nothing to draw
        elif ord(char) in covered:
            out.append(char)
        else:
            out.append(MISSING_GLYPH)
            replaced = True
    return "".join(out), replaced


class _Dossier(FPDF):
    def __init__(self, *, reference: str, banner: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.reference = reference
        self.banner = banner
        self.replaced = False

    def header(self) -> None:
        self.set_font(FONT_FAMILY, "B", 9)
        title = f"Hotline hand-off · tip {self.reference}"
        self.cell(0, 5, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT_FAMILY, "", 8)
        self.cell(0, 5, self.banner, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(120, 120, 120)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(4)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT_FAMILY, "", 8)
        self.cell(0, 5, f"Confidential · page {self.page_no()} of {{nb}}", align="C")

    def text_block(self, text: str, *, size: float = 10, bold: bool = False) -> None:
        shown, replaced = drawable(text)
        self.replaced |= replaced
        self.set_font(FONT_FAMILY, "B" if bold else "", size)
        self.multi_cell(0, size * 0.5, shown or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(3)
        self.text_block(text, size=13, bold=True)
        self.ln(1)

    def field(self, name: str, value: str) -> None:
        self.set_font(FONT_FAMILY, "B", 10)
        self.cell(45, 5, name)
        self.text_block(value)

    def entry(self, title: str, body: str | None = None) -> None:
        self.text_block(title, size=9, bold=True)
        if body is not None:
            self.text_block(body)
        self.ln(2)


def _shown(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _who(username: str | None) -> str:
    return username or "(account removed)"


def _summary(pdf: _Dossier, case: CaseFile, labels: Mapping[str, str]) -> None:
    pdf.heading("Summary")
    fields: Iterable[tuple[str, object]] = (
        ("Reference", case.reference),
        ("Received", utc_iso(case.created_at)),
        ("Channel", case.channel),
        ("Language", case.lang),
        ("Status", case.status),
        ("Close reason", case.close_reason),
        ("Urgency in force", case.urgency),
        ("Triage urgency", case.triage_urgency),
        ("Override", case.urgency_override),
        ("Category", case.category),
        ("Minors", case.minors),
    )
    for name, value in fields:
        pdf.field(name, _shown(value))
    indicators = [f"{labels.get(i, i)} ({i})" for i in case.indicator_ids]
    pdf.field("Indicators", "\n".join(indicators) if indicators else "none")


def build_pdf(case: CaseFile, export: Export) -> bytes:
    """A readable dossier of one tip: every section of the JSON bundle, paginated."""
    exported_by, _ = drawable(export.exported_by)
    banner = f"Confidential — exported by {exported_by} at {utc_iso(export.exported_at)}"
    pdf = _Dossier(reference=case.reference, banner=banner)
    pdf.set_title(f"Hotline hand-off {case.reference}")
    pdf.set_creator("Hotline")
    pdf.set_auto_page_break(auto=True, margin=18)
    with ExitStack() as stack:
        for style, name in FONT_FILES.items():
            path = stack.enter_context(_font_file(name))
            pdf.add_font(FONT_FAMILY, style, str(path))
        pdf.add_page()
        pdf.text_block(f"Tip {case.reference}", size=18, bold=True)
        _summary(pdf, case, export.labels)

        pdf.heading("What the reporter wrote")
        pdf.text_block(case.text)

        pdf.heading(f"Messages ({len(case.messages)})")
        for message in case.messages:
            who = (
                f"Hotline: {_who(message.username)}" if message.author == "hotline" else "Reporter"
            )
            pdf.entry(f"{utc_iso(message.created_at)} · {who} · {message.channel}", message.text)

        pdf.heading(f"Notes ({len(case.notes)})")
        for note in case.notes:
            pdf.entry(f"{utc_iso(note.created_at)} · {_who(note.username)}", note.text)

        pdf.heading(f"Urgency overrides ({len(case.overrides)})")
        for override in case.overrides:
            title = (
                f"{utc_iso(override.at)} · {_who(override.username)} · "
                f"{override.from_urgency} → {override.to_urgency}"
            )
            pdf.entry(title, override.reason)

        pdf.heading(f"Referrals ({len(case.referrals)})")
        for referral in case.referrals:
            pdf.entry(
                f"{utc_iso(referral.created_at)} · {_who(referral.username)}",
                f"{referral.name} ({referral.kind})",
            )

        pdf.heading(f"History ({len(case.events)})")
        for event in case.events:
            detail = json.dumps(event.detail, ensure_ascii=False, default=str)
            title = f"{utc_iso(event.at)} · {event.kind} · {_who(event.username)}"
            pdf.entry(title, detail if event.detail else None)

        if pdf.replaced:
            pdf.heading("About this copy")
            pdf.text_block(
                f"Some characters could not be drawn with the embedded font and are shown as "
                f"{MISSING_GLYPH}. The JSON export of this tip holds every text exactly."
            )
        return bytes(pdf.output())
