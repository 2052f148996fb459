"""Real text to canonical tokens, keeping the way back to the original characters.

The text is split on spaces (after a length-preserving translation of other white space), so
every piece keeps its offset in the original. Each piece is folded on its own — NFKC, case
folding, accent and confusable folding, apostrophes dropped, SMS spellings and misspellings,
repeated letters, digits standing for letters, numbers to classes.

No word of a tip outlives the call (a seized server must not reveal past tips): the only table
kept across calls is built at load time from the rule vocabulary, the spelling and number
tables and a few function words, and is never written to afterwards. A tip has its ASCII
letters lowercased and its ASCII white space translated in one pass over its bytes; each piece
is then looked up in that table (most words of a tip are there), and only the rest are folded
one by one, memoised for the call alone.

In the canonical string tokens are separated by two spaces and matcher keys carry one space on
each side, so keys that touch never share a character and sentence marks are tokens of their
own ("." and ",").
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, product
from types import MappingProxyType

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
# The same translation for ASCII white space, plus lowercasing ASCII letters, as one table for
# UTF-8 bytes (bytes from 128 up are parts of longer characters and stay as they are); white
# space beyond ASCII is rarer and left to two expressions.
_LOWER = bytes(
    c
    if c >= 128
    else ord(" ")
    if c in _SPACES
    else ord(".")
    if c in _BREAKS
    else ord(chr(c).lower())
    for c in range(256)
)
_WIDE_SPACE = re.compile("[" + "".join(chr(c) for c in sorted(_SPACES) if c >= 128) + "]")
_WIDE_BREAK = re.compile("[" + "".join(chr(c) for c in sorted(_BREAKS) if c >= 128) + "]")
_WIDE = re.compile("[" + "".join(chr(c) for c in sorted({**_SPACES, **_BREAKS}) if c >= 128) + "]")
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
TRIM = "\"'()[]{}<>.,;:!?\u00bf\u00a1*-_/\\|\u201c\u201d\u2018\u2019\u00ab\u00bb\u2026#~^+=&%"
_SYMBOL = re.compile(r"(?<=[a-z])[@$]+(?=[a-z])")
# Characters that start no token, so they may surround a word without changing its reading;
# and those plus sentence marks, which may follow it.
_LEAD = '"()[]*<>#~\u00bf\u00a1\u00ab\u00bb\u201c\u201d'
_TRAIL = _LEAD + ".,;:!?"
_COMMON_SUFFIXES = ("", ",", ".")
_ORDINALS = frozenset({"st", "nd", "rd", "th", "o", "a", "er", "ro", "do", "to", "vo", "no"})


def _latin() -> dict[int, str | None]:
    """Accented Latin letters that fold to ASCII, and the dropped characters NFKC keeps: for a
    piece of these and ASCII (not uppercase) folding is a translation, letter by letter."""
    table: dict[int, str | None] = {}
    for code in range(0x80, 0x250):
        char = chr(code)
        folded = fold(char)
        if unicodedata.category(char).startswith("L") and folded.isascii():
            table[code] = folded
    for code, dropped in _DROP.items():
        if unicodedata.normalize("NFKC", chr(code)) == chr(code):
            table[code] = dropped
    return table


def fold(text: str) -> str:
    """NFKC, case folding, accents and confusables folded, apostrophes dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        folded = folded.translate(_CONFUSABLES)
    return folded.translate(_DROP)


_LATIN = _latin()


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
    lowered: str = ""  # the original with ASCII letters lowercased and white space as spaces
    _cstarts: list[int] = field(default_factory=list)
    _ostarts: list[int] = field(default_factory=list)

    def canonical_starts(self) -> list[int]:
        """Where each piece's tokens start in the canonical string (and where they end)."""
        if not self._cstarts:
            self._cstarts = list(accumulate(map(len, self.canon), initial=len(SEP)))
        return self._cstarts

    def original_starts(self) -> list[int]:
        """The length of the pieces before each: piece i starts at this plus i (the spaces)."""
        if not self._ostarts:
            self._ostarts = list(accumulate(map(len, self.pieces), initial=0))
        return self._ostarts

    def piece_at(self, position: int) -> int:
        """The index of the piece a canonical character position falls in."""
        index = bisect_right(self.canonical_starts(), position) - 1
        return index if index < len(self.pieces) else len(self.pieces) - 1

    def pieces_of(self, start: int, end: int) -> tuple[int, int]:
        """First and last piece of a canonical span."""
        return self.piece_at(start), self.piece_at(end - 1)

    def span_of(self, start: int, end: int) -> tuple[int, int]:
        """Original character span of a canonical span."""
        cstarts = self.canonical_starts()
        last_piece = len(self.pieces) - 1
        first = bisect_right(cstarts, start) - 1
        last = bisect_right(cstarts, end - 1) - 1
        return self.span(min(first, last_piece), min(last, last_piece))

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Original character span of pieces first..last, punctuation at the ends trimmed."""
        ostarts = self.original_starts()
        start = ostarts[first] + first
        end = ostarts[last] + last + len(self.pieces[last])
        head, tail = self.pieces[first], self.pieces[last]
        start += len(head) - len(head.lstrip(TRIM))
        end -= len(tail) - len(tail.rstrip(TRIM))
        return (start, max(start, end))

    @staticmethod
    def spans_of(
        hits: Sequence[tuple[int, str, int, int, tuple[int, int]]],
    ) -> tuple[tuple[int, int], ...]:
        """The original spans of matcher hits, sorted and without repeats."""
        if len(hits) == 1:
            return (hits[0][4],)
        return tuple(sorted({hit[4] for hit in hits}))

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
        extra: Iterable[str] = (),
    ) -> None:
        self._spelling = {fold(k): tuple(fold(v).split()) for k, v in spelling.items()}
        self._numbers = {fold(k): v for k, v in numbers.items()}
        self._extra = frozenset(fold(word) for word in extra)  # more words worth knowing
        self._vocabulary: frozenset[str] = frozenset()
        self._long: frozenset[str] = frozenset()  # vocabulary words a fuzzy repair may aim at
        self._deletes: dict[str, str] = {}
        self._deleted: frozenset[str] = frozenset()  # the keys of _deletes
        self._targets: frozenset[str] = frozenset()  # what a fuzzy variant may hit
        self._heads: frozenset[tuple[str, int, str]] = frozenset()  # cheap tests before a
        self._tails: frozenset[tuple[str, int, str]] = frozenset()  # fuzzy builds variants
        # Built at load time from rule data only, never written while reading a tip.
        self._pieces: dict[str, str] = {}  # lowercase word -> its canonical piece
        self._suffixes: dict[str, str] = {}  # trailing marks ("," "?!" '."') -> canonical
        self._odd: frozenset[str] = frozenset()

    def known_pieces(self) -> Mapping[str, str]:
        """The one table kept from call to call (read-only): pieces built at load time from
        the rule vocabulary, the spelling and number tables and a few function words."""
        return MappingProxyType(self._pieces)

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
        """The tokens of every key: what fuzzy repairs of unknown words may aim at. The table
        of known pieces is built here, from these, the extra words given at construction and
        the spelling and number tables: rule data only, never a word of a tip."""
        self._vocabulary = frozenset(words)
        self._long = frozenset(w for w in self._vocabulary if len(w) >= 7)
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
        self._deleted = frozenset(deletes)
        targets = self._targets = self._long | self._deleted
        self._heads = frozenset((t[: (len(t) + 1) // 2], len(t), t[-1]) for t in targets)
        self._tails = frozenset((t[(len(t) + 1) // 2 :], len(t), t[0]) for t in targets)
        self._suffixes = self._marks_after_a_word()
        self._pieces = self._known_pieces()
        # Spelling and number words missing from the table (none, unless one reads as a
        # sentence mark): never taken for plain words.
        known = self._pieces
        self._odd = frozenset(w for w in {*self._spelling, *self._numbers} if w not in known)

    def _marks_after_a_word(self) -> dict[str, str]:
        """The canonical form of up to two trailing marks ("," "?!" '."'), and a few more."""
        suffixes: dict[str, str] = {"": ""}
        base = self._piece_folded("w")
        marks = {a + b for a in _TRAIL for b in ("", *_TRAIL)}
        for suffix in marks.union(_COMMON_SUFFIXES):
            whole = self._piece_folded("w" + suffix)
            if whole.startswith(base):
                suffixes[suffix] = whole[len(base) :]
        return suffixes

    def _known_pieces(self) -> dict[str, str]:
        """Pieces made of rule data: each known word and number, bare, with an apostrophe
        near its end ("can't", "she's") and with a comma or full stop after it."""
        known: dict[str, str] = {}
        candidates = {*self._vocabulary, *self._extra, *self._spelling, *self._numbers}
        candidates.update(t for spelled in self._spelling.values() for t in spelled)
        candidates.update(map(str, range(1000)))
        for word in sorted(candidates):
            if not (word.isascii() and word.isalnum() and word == word.lower()):
                continue
            value = self._piece_folded(word)
            if not value or value[: -len(SEP)].rsplit(SEP, 1)[-1] in BOUNDARIES:
                continue
            forms = [word]
            if len(word) > 1 and word.isalpha():  # she's, can't, i'm, they're, we'll
                forms.extend(
                    word[:i] + "'" + word[i:] for i in range(max(1, len(word) - 3), len(word))
                )
            for form in forms:
                for suffix in _COMMON_SUFFIXES:
                    known[form + suffix] = value + self._suffixes[suffix]
        return known

    # -- text ------------------------------------------------------------------------------

    def prepare(self, text: str) -> Text:
        """Split, canonicalise and join a tip."""
        # One C-level pass over the UTF-8 bytes: ASCII letters lowercased, ASCII white space
        # translated. Same length, same pieces; lowercasing ASCII letters never changes how a
        # piece folds, since no character composes with an ASCII letter differently by case.
        lowered = (
            text.encode("utf-8", "surrogatepass").translate(_LOWER).decode("utf-8", "surrogatepass")
        )
        if not text.isascii() and _WIDE.search(lowered) is not None:
            lowered = _WIDE_BREAK.sub(".", _WIDE_SPACE.sub(" ", lowered))
        pieces = lowered.split(" ")
        canon: list[str | None] = list(map(self._pieces.get, pieces))
        if None in canon:
            memo: dict[str, str] = {}  # this call only
            odd, vocabulary, run = self._odd, self._vocabulary, _RUN2.search
            index = canon.index(None)
            try:
                while True:
                    piece = pieces[index]
                    value = memo.get(piece)
                    if value is None:
                        if (  # the commonest: a short plain word, nothing to repair (_word)
                            len(piece) < 7
                            and piece.isalpha()
                            and piece.isascii()
                            and piece not in odd
                            and run(piece) is None
                        ):
                            if piece.endswith("in") and piece + "g" in vocabulary:
                                value = piece + "g" + SEP  # SMS "goin", "livin", "workin"
                            else:
                                value = piece + SEP
                        else:
                            value = self._unknown(piece)
                        memo[piece] = value
                    canon[index] = value
                    index = canon.index(None, index + 1)
            except ValueError:
                pass  # no piece left to read
        done: list[str] = canon  # type: ignore[assignment]  # every None was filled above
        return Text(text, pieces, done, SEP + "".join(done), lowered)

    def _unknown(self, piece: str) -> str:
        """The canonical form of a piece not in the known table: an unknown plain word, a
        known word or a number between quotes and marks, or else the full fold. For ASCII the
        fold is the lowercased piece without apostrophes."""
        if piece.isascii():
            if piece.isalpha():
                value = self._word(piece)
                return value if value is not None else self._piece_folded(piece)
            folded = (
                piece.replace("'", "").replace("`", "") if "'" in piece or "`" in piece else piece
            )
        else:
            folded = piece.translate(_LATIN)  # accented Latin letters, one by one
            if not folded.isascii():
                folded = fold(piece)
        known = self._pieces
        value = known.get(folded)
        if value is not None:
            return value
        inner = folded.lstrip(_LEAD)
        core = inner.rstrip(_TRAIL)
        suffix = self._suffixes.get(inner[len(core) :])
        if suffix is None or not core or not core.isascii():
            return self._piece_folded(folded)
        value = known.get(core)
        if value is None:
            if core.isdigit():
                value = (number_class(int(core)) if len(core) <= 3 else NUMBER) + SEP
            elif core.isalpha():
                value = self._word(core)
                if value is None:
                    return self._piece_folded(folded)
            else:
                return self._piece_folded(folded)
        return value + suffix

    def _word(self, word: str) -> str | None:
        """The canonical piece of a lowercase ASCII word that is not in the known table, or
        None when it reads as more than plain tokens."""
        if word in self._odd:
            return None  # a spelling or number word: only the full fold reads it
        if word in self._vocabulary:
            return word + SEP
        if _RUN2.search(word) is None:  # _repair with no repeated letter to squeeze
            if word.endswith("in") and word + "g" in self._vocabulary:
                return word + "g" + SEP  # SMS "goin", "livin", "workin"
            fixed = self._fuzzy(word)
            return (fixed if fixed is not None else word) + SEP
        repaired = self._repair(word)
        if repaired != word and repaired.rsplit(SEP, 1)[-1] in BOUNDARIES:
            return None
        return repaired + SEP

    def piece(self, raw: str) -> str:
        """The canonical form of one space-delimited piece, each token followed by SEP."""
        return self._piece_folded(fold(raw))

    def _piece_folded(self, folded: str) -> str:
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
        squeezed = token
        if _RUN2.search(token) is not None:  # no letter repeated: nothing to squeeze
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
        # A variant (one letter dropped at i >= 1) that is a target is the token without its
        # last letter; or shares its first half and last letter with the token (i in the
        # second half), or its second half and first letter (i in the first).
        half, size = len(token) // 2, len(token) - 1
        if (
            token not in deletes
            and token[:-1] not in self._targets
            and (token[:half], size, token[-1]) not in self._heads
            and (token[half + 1 :], size, token[0]) not in self._tails
        ):
            return None
        variants = {token[:i] + token[i + 1 :] for i in range(1, len(token))}
        candidates = variants & self._long  # one letter too many
        if len(candidates) > 1:
            return None
        variants -= candidates
        candidates.update(deletes[v] for v in variants & self._deleted)  # one changed
        if token in deletes:
            candidates.add(deletes[token])  # one letter missing
        candidates = {c for c in candidates if c[0] == token[0]}
        return candidates.pop() if len(candidates) == 1 else None


def _symbols_as_letters(folded: str) -> str:
    """ "p@ssport" and "pa$$port", but never an e-mail address."""
    at = folded.find("@")
    if at >= 0 and "." in folded[at:]:
        return folded
    return _SYMBOL.sub(lambda m: m.group().replace("@", "a").replace("$", "s"), folded)
