"""Specific things a tip names — phone numbers, e-mails, URLs, plates, ages, addresses, rooms,
times — normalised so the same thing written two ways links two tips."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import phonenumbers

from triage.assessment import Entity
from triage.matcher import Hit
from triage.normalise import Text, fold

_PHONE = re.compile(r"(?<![\w+@/.])\+?(?:\(\d{1,4}\)|\d)[\d .()\-]{5,18}\d(?![\w@])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TLDS = "com|net|org|info|biz|io|me|co|xyz|mx|es|us|ly|app|site|online|live|club|link|top|gt|hn|sv"
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'`]+"
    rf"|(?<![@\w.\-])(?:[a-z0-9\-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_URL_TLD = re.compile(rf"\.(?:{_TLDS})\b", re.IGNORECASE)  # or "http", "www." anywhere
_PLATE = re.compile(
    r"[\s:#.\-]*(?:(?:number|num|no|n[uú]mero|n)\b[\s:#.\-]*)?"
    r"([A-Za-z0-9]{1,4}(?:[ \-]?[A-Za-z0-9]{1,4}){1,2})\b"
)
_PLATE_SPLIT = re.compile(r"([ \-])")
_WORD = re.compile(r"\w+")
_URL_SCHEME = re.compile(r"^(?:https?://)?(?:www\.)?", re.IGNORECASE)
# A phone number has at least seven digits in a run of digits and "+ .()-": most tips have
# none, and the full expression costs a look-behind at every character of the text, so it
# only reads such runs. ASCII digits are counted first, cheaply (other digits are not).
_SEVEN_DIGITS = re.compile(r"\d(?:[+ .()\-]*\d){6,}")
_RUN_MARKS = "+ .()-"
_NOT_DIGITS = bytes(c for c in range(128) if not 48 <= c <= 57)
_ROOM_NUMBER = re.compile(r"\d+[a-z]?\b|\b[a-z]\d+\b")
_STRIP = re.compile(r"[^\w#]+")
_LOOK = 4


def extract(
    text: Text,
    hits: Iterable[tuple[int, str, Hit]],
    number_of: Callable[[str], int | None],
    default_region: str,
) -> tuple[list[Entity], set[int]]:
    """Entities from hits (rule index, entity kind, hit) and from the raw text; and the rule
    indices whose hits gave a value."""
    found: list[Entity] = []
    produced: set[int] = set()
    for index, kind, hit in hits:
        entity = _from_hit(text, kind, hit, number_of)
        if entity is not None:
            found.append(entity)
            produced.add(index)
    original = text.original
    emails = _emails(original) if "@" in original else []
    found.extend(emails)
    lowered = text.lowered or original.lower()
    if "http" in lowered or "www." in lowered or _URL_TLD.search(original) is not None:
        found.extend(_urls(original, [e.span for e in emails]))
    found.extend(_phones(original, default_region))
    unique = {(e.kind, e.value, e.span): e for e in found}
    return sorted(unique.values(), key=lambda e: (e.span, e.kind)), produced


def _from_hit(
    text: Text, kind: str, hit: Hit, number_of: Callable[[str], int | None]
) -> Entity | None:
    span = hit[4]
    raw = text.original[span[0] : span[1]]
    if kind == "age":
        for word in _WORD.findall(raw):
            value = number_of(word)
            if value is not None:
                return Entity("age", str(value), span)
        return None
    if kind == "time":
        return Entity("time", _collapse(raw), span)
    if kind == "room":
        numbers = _ROOM_NUMBER.findall(fold(raw))
        return Entity("room", numbers[-1], span) if numbers else None
    if kind == "plate":
        return _plate(text, span)
    if kind == "address":
        return _address(text, hit)
    return None


def _plate(text: Text, trigger: tuple[int, int]) -> Entity | None:
    match = _PLATE.match(text.original, trigger[1])
    if match is None:
        return None
    groups = _PLATE_SPLIT.split(match.group(1))
    while len(groups) > 2 and groups[-2] == " " and groups[-1].isalpha() and groups[-1].islower():
        groups = groups[:-2]  # a word after the plate ("ABC 123 de Jalisco")
    value = "".join(g for g in groups if g not in (" ", "-")).upper()
    if not 4 <= len(value) <= 8 or not any(c.isdigit() for c in value):
        return None
    start = match.start(1)
    return Entity("plate", value, (start, start + len("".join(groups))))


def _address(text: Text, hit: Hit) -> Entity | None:
    pieces = text.pieces
    first, last = text.pieces_of(hit[2], hit[3])
    if hit[1] == "en":
        for number in range(first - 1, max(-1, first - _LOOK - 1), -1):
            if pieces[number].strip("#,.").isdecimal():
                span = text.span(number, last)
                return Entity("address", _collapse(text.original[span[0] : span[1]]), span)
        return None
    for number in range(last + 1, min(len(pieces), last + _LOOK + 1)):
        if any(c.isdigit() for c in pieces[number]):
            span = text.span(first, number)
            return Entity("address", _collapse(text.original[span[0] : span[1]]), span)
    return None


def _collapse(raw: str) -> str:
    return " ".join(_STRIP.sub(" ", fold(raw)).split())


def _emails(original: str) -> list[Entity]:
    found = []
    for match in _EMAIL.finditer(original):
        value = match.group().rstrip(".").lower()
        found.append(Entity("email", value, (match.start(), match.start() + len(value))))
    return found


def _urls(original: str, emails: list[tuple[int, int]]) -> list[Entity]:
    found = []
    for match in _URL.finditer(original):
        start = match.start()
        if any(a <= start < b for a, b in emails):
            continue
        raw = match.group().rstrip(".,;:!?)]}>\"'")
        value = _URL_SCHEME.sub("", raw)
        host, slash, path = value.partition("/")
        value = (host.lower() + slash + path).rstrip("/")
        if value:
            found.append(Entity("url", value, (start, start + len(raw))))
    return found


def _phones(original: str, region: str) -> list[Entity]:
    if original.isascii() and len(original.encode("ascii").translate(None, _NOT_DIGITS)) < 7:
        return []
    found: list[Entity] = []
    done = 0
    for seven in _SEVEN_DIGITS.finditer(original):
        if seven.start() < done:
            continue  # in a run already read
        # Every character of a phone match is a digit or one of "+ .()-", so each match lies in
        # one run of them: read the whole run, with the character on either side for the
        # look-behind and look-ahead. Runs with fewer than seven digits give no number.
        start, end = seven.start(), seven.end()
        while start > 0 and _in_run(original[start - 1]):
            start -= 1
        while end < len(original) and _in_run(original[end]):
            end += 1
        done = end
        found.extend(_phones_in(original, max(0, start - 1), end + 1, region))
    return found


def _in_run(char: str) -> bool:
    return char in _RUN_MARKS or char.isdecimal()


def _phones_in(original: str, start: int, end: int, region: str) -> list[Entity]:
    found = []
    for match in _PHONE.finditer(original, start, end):
        raw = match.group().strip(" .-(")
        digits = sum(c.isdigit() for c in raw)
        if not 7 <= digits <= 15 or "  " in raw:
            continue
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_possible_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        at = match.start() + match.group().index(raw)
        found.append(Entity("phone", e164, (at, at + len(raw))))
    return found
