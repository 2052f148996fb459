"""Carrier and language keywords: the whole message, any case, accents ignored; and the
on-call dispatcher's ``ACK <code>``."""

from __future__ import annotations

import re

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


# "ACK 4821", "ack 4821", " Ack  4821. ", "ACK4821": the code is the digits the page carried
# (hotline.paging makes codes of 4 to 6 digits).
_ACK = re.compile(r"\s*ack\s*([0-9]{4,8})[\s.!]*", re.IGNORECASE | re.ASCII)


def ack_code_of(text: str) -> str | None:
    """The code of an ``ACK <code>`` message, or None for anything else.

    Only a registered pager's ``ACK`` acknowledges anything; the webhook checks the sender
    before it acts on this, and treats any other sender's message as a reporter's.
    """
    found = _ACK.fullmatch(text)
    return found.group(1) if found else None
