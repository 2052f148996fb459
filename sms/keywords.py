"""Carrier and language keywords: the whole message, any case, accents ignored."""

from __future__ import annotations

from hotline.conversations import Action
from triage.normalise import fold

KEYWORDS: dict[str, Action] = {
    **dict.fromkeys(("stop", "stopall", "unsubscribe", "cancel", "end", "quit"), "stop"),
    **dict.fromkeys(("parar", "alto"), "stop"),
    **dict.fromkeys(("start", "unstop"), "start"),
    **dict.fromkeys(("help", "info", "ayuda"), "help"),
    **dict.fromkeys(("delete", "borrar"), "delete"),
    **dict.fromkeys(("es", "espanol"), "es"),
    **dict.fromkeys(("en", "english"), "en"),
}
# Punctuation around a keyword still makes a keyword ("Stop.", "¡AYUDA!").
_AROUND = " \t\r\n.,;:!?¡¿\"'()"
_LONGEST = max(map(len, KEYWORDS)) + 8


def keyword_of(text: str) -> Action | None:
    """The keyword the whole message is, or None when it is anything else."""
    if len(text) > _LONGEST:
        return None
    return KEYWORDS.get(fold(text).strip(_AROUND))
