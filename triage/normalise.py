"""Real text to canonical tokens, keeping the way back to the original characters.

The text is split on spaces (after a length-preserving translation of other white space), so
every piece keeps its offset in the original. Each piece is folded on its own — NFKC, case
folding, accent and confusable folding, apostrophes dropped, SMS spellings and misspellings,
repeated letters, digits standing for letters, numbers to classes — and the result is cached
per distinct piece, so a tip costs a few C-level passes and dictionary look-ups.

In the canonical string tokens are separated by two spaces and matcher keys carry one space on
each side, so keys that touch never share a character and sentence marks are tokens of their
own ("." and ",").
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate, product

SEP = "  "
BOUNDARIES = frozenset({".", ","})
MINOR, ADULT, NUMBER, CLOCK = "#m", "#a", "#n", "#t"
NUMBER_CLASSES = frozenset({MINOR, ADULT, NUMBER, CLOCK})
PLACEHOLDER_TOKENS: Mapping[str, tuple[str, ...]] = {
    "{minor}": (MINOR,),
    "{adult}": (ADULT,),
    "{num}": (MINOR, ADULT, NUMBER),
    "{time}": (CLOCK,),
}
_CACHE_LIMIT = 50_000
_CACHEABLE_LENGTH = 24

# White space other than the plain space becomes a space; line and paragraph breaks end a
# sentence. Same length either way, so offsets hold.
_SPACES = dict.fromkeys(
    [
        0x09,
        0x0B,
        0x0C,
        *range(0x1C, 0x20),
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x202F,
        0x205F,
        0x3000,
    ],
    " ",
)
_BREAKS = dict.fromkeys([0x0A, 0x0D, 0x2028, 0x2029], ".")
_WHITESPACE = str.maketrans({**_SPACES, **_BREAKS})
_OTHER_SPACE = re.compile("[" + "".join(map(chr, sorted({**_SPACES, **_BREAKS}))) + "]")
_DIGIT = re.compile(r"\d")
# Dropped inside a word: apostrophes ("can't" = "cant"), zero-width characters, soft hyphen.
_DROP = str.maketrans(
    dict.fromkeys("'\u2019\u2018`\u00b4\u02bc\u00ad\u200b\u200c\u200d\u2060\ufeff", None)
)
# Letters that look Latin but are not (Cyrillic, Greek) and letters NFKD does not decompose.
_CONFUSABLES = str.maketrans(
    {
        "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u043a": "k",
        "\u043c": "m", "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c",
        "\u0442": "t", "\u0443": "y", "\u0445": "x", "\u0456": "i", "\u0457": "i",
        "\u0458": "j", "\u0455": "s", "\u0501": "d", "\u0261": "g", "\u0578": "n",
        "\u057d": "u", "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b9": "i",
        "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c4": "t",
        "\u03c5": "u", "\u03c7": "x", "\u0111": "d", "\u00f8": "o", "\u0142": "l",
        "\u0131": "i", "\u00df": "ss", "\u00e6": "ae", "\u0153": "oe",
    }
)  # fmt: skip
_LEET = str.maketrans("0134578", "oieastb")
_TOKEN = re.compile(r"\d{1,2}:\d{2}|\{[a-z]+\}|\w+|[.!?]+|[,;:]")
_GROUP = re.compile(r"\(([^()]*)\)")
_UNIT_SPLIT = re.compile(r"(\d+)([^\W\d_]+)")
_PREFIX_SPLIT = re.compile(r"([^\W\d_]+)(\d+)")
_RUN3 = re.compile(r"(.)\1{2,}")
_RUN2 = re.compile(r"(.)\1+")
_TRIM = "\"'()[]{}<>.,;:!?\u00bf\u00a1*-_/\\|\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026#~^+=&%"
_SYMBOL = re.compile(r"(?<=[a-z])[@$]+(?=[a-z])")
_ORDINALS = frozenset({"st", "nd", "rd", "th", "o", "a", "er", "ro", "do", "to", "vo", "no"})


def fold(text: str) -> str:
    """NFKC, case folding, accents and confusables folded, apostrophes dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        folded = folded.translate(_CONFUSABLES)
    return folded.translate(_DROP)


def number_class(value: int) -> str:
    if value < 18:
        return MINOR
    return ADULT if value < 100 else NUMBER


@dataclass(slots=True)
class Text:
    """One tip: the original, its pieces, and the canonical string the matcher reads."""

    original: str
    pieces: list[str]
    canon: list[str]
    canonical: str
    _cstarts: list[int] = field(default_factory=list)
    _ostarts: list[int] = field(default_factory=list)

    def piece_at(self, position: int) -> int:
        """The index of the piece a canonical character position falls in."""
        if not self._cstarts:
            self._cstarts = list(accumulate(map(len, self.canon), initial=len(SEP)))
        index = bisect_right(self._cstarts, position) - 1
        return index if index < len(self.pieces) else len(self.pieces) - 1

    def pieces_of(self, start: int, end: int) -> tuple[int, int]:
        """First and last piece of a canonical span."""
        return self.piece_at(start), self.piece_at(end - 1)

    def span_of(self, start: int, end: int) -> tuple[int, int]:
        """Original character span of a canonical span."""
        if not self._cstarts:
            self._cstarts = list(accumulate(map(len, self.canon), initial=len(SEP)))
        last_piece = len(self.pieces) - 1
        first = bisect_right(self._cstarts, start) - 1
        last = bisect_right(self._cstarts, end - 1) - 1
        return self.span(min(first, last_piece), min(last, last_piece))

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Original character span of pieces first..last, punctuation at the ends trimmed."""
        if not self._ostarts:
            self._ostarts = list(accumulate(map(len, self.pieces), initial=0))
        start = self._ostarts[first] + first
        end = self._ostarts[last] + last + len(self.pieces[last])
        head, tail = self.pieces[first], self.pieces[last]
        start += len(head) - len(head.lstrip(_TRIM))
        end -= len(tail) - len(tail.rstrip(_TRIM))
        return (start, max(start, end))

    def spans_of(self, positions: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Original character spans of many canonical spans, sorted and without repeats."""
        if not self._cstarts:
            self._cstarts = list(accumulate(map(len, self.canon), initial=len(SEP)))
        if not self._ostarts:
            self._ostarts = list(accumulate(map(len, self.pieces), initial=0))
        cstarts, ostarts, pieces = self._cstarts, self._ostarts, self.pieces
        last_piece = len(pieces) - 1
        spans = set()
        for start, end in positions:
            first = min(bisect_right(cstarts, start) - 1, last_piece)
            last = min(bisect_right(cstarts, end - 1) - 1, last_piece)
            head, tail = pieces[first], pieces[last]
            begin = ostarts[first] + first
            finish = ostarts[last] + last + len(tail)
            if head and head[0] in _TRIM:
                begin += len(head) - len(head.lstrip(_TRIM))
            if tail and tail[-1] in _TRIM:
                finish -= len(tail) - len(tail.rstrip(_TRIM))
            spans.add((begin, max(begin, finish)))
        return sorted(spans)

    def tokens_between(self, start: int, end: int) -> list[str]:
        """Canonical tokens between two canonical character positions."""
        return self.canonical[start:end].split() if end > start else []

    def next_token(self, position: int) -> str:
        """The canonical token right after a canonical character position, or ""."""
        rest = self.canonical[position : position + 40].split(maxsplit=1)
        return rest[0] if rest else ""


class Normaliser:
    """Canonicalises phrases (exactly) and text (forgivingly, against the phrase vocabulary)."""

    def __init__(
        self,
        spelling: Mapping[str, str],
        numbers: Mapping[str, int],
    ) -> None:
        self._spelling = {fold(k): tuple(fold(v).split()) for k, v in spelling.items()}
        self._numbers = {fold(k): v for k, v in numbers.items()}
        self._vocabulary: frozenset[str] = frozenset()
        self._deletes: dict[str, str] = {}
        self._cache: dict[str, str] = {}

    # -- phrases ---------------------------------------------------------------------------

    def phrase_keys(self, phrase: str) -> list[str]:
        """Matcher keys for one phrase, one space on each side. Placeholders expand to number
        classes; "(took|takes|has)" expands to each alternative ("(a|)": optional)."""
        segments: list[list[tuple[str, ...]]] = []
        position = 0
        for group in _GROUP.finditer(phrase):
            segments.extend(self._fixed(phrase[position : group.start()]))
            segments.append(sorted({self._tokens(alt) for alt in group.group(1).split("|")}))
            position = group.end()
        segments.extend(self._fixed(phrase[position:]))
        keys = {SEP.join(t for part in choice for t in part) for choice in product(*segments)}
        return sorted(" " + key + " " for key in keys if key)

    def _fixed(self, text: str) -> list[list[tuple[str, ...]]]:
        segments: list[list[tuple[str, ...]]] = []
        for token in _TOKEN.findall(fold(text)):
            if token in PLACEHOLDER_TOKENS:
                segments.append([(t,) for t in PLACEHOLDER_TOKENS[token]])
            else:
                segments.extend([(t,)] for t in self._exact(token))
        return segments

    def _tokens(self, text: str) -> tuple[str, ...]:
        return tuple(t for part in self._fixed(text) for t in part[0])

    def _exact(self, token: str) -> list[str]:
        if token[0] in ".!?":
            return ["."]
        if token[0] in ",;:":
            return [","]
        if token in self._spelling:
            return list(self._spelling[token])
        if token.isdecimal():
            return [number_class(int(token)) if len(token) <= 3 else NUMBER]
        if token in self._numbers:
            return [number_class(self._numbers[token])]
        return [token]

    def set_vocabulary(self, words: Iterable[str]) -> None:
        """The tokens of every key: what fuzzy repairs of unknown words may aim at."""
        self._vocabulary = frozenset(words)
        deletes: dict[str, str] = {}
        ambiguous: set[str] = set()
        for word in self._vocabulary:
            if len(word) < 7 or not word.isalpha() or not word.isascii():
                continue
            for i in range(1, len(word)):
                variant = word[:i] + word[i + 1 :]
                if deletes.setdefault(variant, word) != word:
                    ambiguous.add(variant)
        for variant in ambiguous:
            del deletes[variant]
        self._deletes = deletes
        self._cache.clear()

    # -- text ------------------------------------------------------------------------------

    def prepare(self, text: str) -> Text:
        """Split, canonicalise and join a tip."""
        if _OTHER_SPACE.search(text) is not None:
            text_for_split = text.translate(_WHITESPACE)
        else:
            text_for_split = text
        pieces = text_for_split.split(" ")
        cache = self._cache
        canon: list[str | None] = list(map(cache.get, pieces))
        if None in canon:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            for index, value in enumerate(canon):
                if value is None:
                    piece = pieces[index]
                    value = self.piece(piece)
                    if len(piece) <= _CACHEABLE_LENGTH and _DIGIT.search(piece) is None:
                        cache[piece] = value
                    canon[index] = value
        done: list[str] = canon  # type: ignore[assignment]  # every None was filled above
        return Text(text, pieces, done, SEP + "".join(done))

    def piece(self, raw: str) -> str:
        """The canonical form of one space-delimited piece, each token followed by SEP."""
        folded = fold(raw)
        if "@" in folded or "$" in folded:
            folded = _symbols_as_letters(folded)
        out: list[str] = []
        for token in _TOKEN.findall(folded):
            first = token[0]
            if first in ".!?" or first in ",;:":
                mark = "." if first in ".!?" else ","
                if out and out[-1] in BOUNDARIES:
                    if mark == ".":
                        out[-1] = "."
                else:
                    out.append(mark)
            elif ":" in token and token[0].isdecimal():
                out.append(CLOCK)
            elif token[0] == "{":
                for inner in _TOKEN.findall(token[1:-1]):
                    out.extend(self.word(inner))
            else:
                out.extend(self.word(token))
        return SEP.join(out) + SEP if out else ""

    def word(self, token: str) -> list[str]:
        """Canonical tokens for one word of text."""
        spelled = self._spelling.get(token)
        if spelled is not None:
            return list(spelled)
        if token.isdecimal():
            return [number_class(int(token)) if len(token) <= 3 else NUMBER]
        if token in self._numbers:
            return [number_class(self._numbers[token])]
        if token.isalpha():
            return [self._repair(token)]
        return self._mixed(token)

    def _mixed(self, token: str) -> list[str]:
        unit = _UNIT_SPLIT.fullmatch(token)
        if unit is not None:
            digits, letters = unit.groups()
            number = number_class(int(digits)) if len(digits) <= 3 else NUMBER
            if letters in _ORDINALS:
                return [number, "th"]
            leet = token.translate(_LEET)
            if leet.isalpha() and self._known(leet):
                return [self._repair(leet)]
            return [number, *self.word(letters)]
        prefix = _PREFIX_SPLIT.fullmatch(token)
        if prefix is not None:
            letters, digits = prefix.groups()
            leet = token.translate(_LEET)
            if leet.isalpha() and self._known(leet):
                return [self._repair(leet)]
            return [*self.word(letters), number_class(int(digits)) if len(digits) <= 3 else NUMBER]
        leet = token.translate(_LEET)
        if leet.isalpha():
            return [self._repair(leet)]
        return [token]

    def _known(self, token: str) -> bool:
        return token in self._vocabulary or token in self._spelling or self._repair(token) != token

    def _repair(self, token: str) -> str:
        """Repeated letters, then a one-letter slip from a long known word."""
        if token in self._vocabulary:
            return token
        squeezed = _RUN3.sub(r"\1", token)
        if squeezed != token and (squeezed in self._vocabulary or squeezed in self._spelling):
            return self._spelled(squeezed)
        single = _RUN2.sub(r"\1", squeezed)
        if single != squeezed and (single in self._vocabulary or single in self._spelling):
            return self._spelled(single)
        if squeezed.endswith("in") and squeezed + "g" in self._vocabulary:
            return squeezed + "g"  # SMS "goin", "livin", "workin"
        fixed = self._fuzzy(squeezed)
        return fixed if fixed is not None else squeezed

    def _spelled(self, token: str) -> str:
        spelled = self._spelling.get(token)
        return SEP.join(spelled) if spelled is not None else token

    def _fuzzy(self, token: str) -> str | None:
        if len(token) < 7 or not token.isascii():
            return None
        deletes = self._deletes
        candidates: set[str] = set()
        if token in deletes:
            candidates.add(deletes[token])
        for i in range(1, len(token)):
            variant = token[:i] + token[i + 1 :]
            if variant in self._vocabulary and len(variant) >= 7:
                candidates.add(variant)
            elif variant in deletes:
                candidates.add(deletes[variant])
        candidates = {c for c in candidates if c[0] == token[0]}
        return candidates.pop() if len(candidates) == 1 else None


def _symbols_as_letters(folded: str) -> str:
    """ "p@ssport" and "pa$$port", but never an e-mail address."""
    at = folded.find("@")
    if at >= 0 and "." in folded[at:]:
        return folded
    return _SYMBOL.sub(lambda m: m.group().replace("@", "a").replace("$", "s"), folded)
