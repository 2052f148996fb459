"""Which language a tip is in: function words counted over the canonical pieces."""

from __future__ import annotations

import re

from triage.normalise import SEP, Text

_FUNCTION_WORDS = {
    "en": "the and is are was were they she he his her him them we you i my our to of in with "
    "have has this that there at for it from what when where who not but be been would could "
    "she's he's don't can't im its their said says because",
    "es": "el la los las que y en un una es son por para con mi mis su sus lo le les nos pero "
    "muy tiene tienen hay ella esta estan donde cuando porque tengo estoy somos ellos del al "
    "se me yo sin hace mas tambien aqui dice q pa xq",
    "pt": "nao voce estou eu uma com isso ele ela muito obrigado ajuda socorro minha meu sao "
    "estao aqui ajudem",
    "fr": "je suis les est et une dans pas avec au nous vous aidez secours moi mon ma elle il "
    "sont ici",
    "tl": "ako ng sa mga po hindi ko na ang tulungan tulong saklolo siya kami namin nila "
    "ninyo dito",
    "vi": "toi khong cua la va cho voi giup cuu chung nguoi",
}
FUNCTION_WORDS = frozenset(
    w.replace("'", "") for ws in _FUNCTION_WORDS.values() for w in ws.split()
)
_SETS = {
    lang: frozenset(word.replace("'", "") + SEP for word in words.split())
    for lang, words in _FUNCTION_WORDS.items()
}
_ANY = frozenset().union(*_SETS.values())
# Function word -> (1 or 0 for each language in _SETS order), summed column by column.
_VOTES = {word: tuple(int(word in words) for words in _SETS.values()) for word in _ANY}
_VIETNAMESE_LETTERS = "ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"
# Both cases spelled out: a case-insensitive class costs twice as much to search.
_VIETNAMESE = re.compile(
    "[" + "".join(sorted({*_VIETNAMESE_LETTERS, *_VIETNAMESE_LETTERS.upper()})) + "]"
)


def detect_language(text: Text) -> str:
    """ "en", "es", "pt", "fr", "tl", "vi", or "und" when nothing tells."""
    if not text.original.isascii() and _VIETNAMESE.search(text.original):
        return "vi"
    found = _ANY.intersection(text.canon)
    if not found:
        return "und"
    counts = map(sum, zip(*map(_VOTES.__getitem__, found), strict=True))
    best, best_count, runner_up = "und", 0, 0
    for lang, count in zip(_SETS, counts, strict=True):
        if count > best_count:
            best, best_count, runner_up = lang, count, best_count
        elif count > runner_up:
            runner_up = count
    if best_count == 0 or best_count == runner_up:
        return "und"
    return best
