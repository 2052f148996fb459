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
_SETS = {
    lang: frozenset(word.replace("'", "") + SEP for word in words.split())
    for lang, words in _FUNCTION_WORDS.items()
}
_VIETNAMESE = re.compile(r"[ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)


def detect_language(text: Text) -> str:
    """ "en", "es", "pt", "fr", "tl", "vi", or "und" when nothing tells."""
    if not text.original.isascii() and _VIETNAMESE.search(text.original):
        return "vi"
    best, best_count, runner_up = "und", 0, 0
    present = set(text.canon)
    for lang, words in _SETS.items():
        count = len(words & present)
        if count > best_count:
            best, best_count, runner_up = lang, count, best_count
        elif count > runner_up:
            runner_up = count
    if best_count == 0 or best_count == runner_up:
        return "und"
    return best
