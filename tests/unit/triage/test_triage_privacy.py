"""Nothing a reporter wrote outlives the call: a seized public server must not reveal past
tips, so no structure of triage keeps a word of a tip once `assess` has returned."""

import gc
import sys
import types
from collections.abc import Iterable, Iterator

import triage
from triage.engine import build_engine, shipped_engine

WORD = "Zorblaxian"  # made up: in no rule, spelling table or function-word list
TIPS = [
    f"{WORD} took my passport and I cant leave, please help",
    f"{WORD.upper()}!! {WORD.lower()}, ({WORD}) '{WORD}' {WORD}'s {WORD}... they beat her",
    f"Llamen al 555-201-7788, me tienen en la calle {WORD} 45, cuarto 12, {WORD}ñ está aquí",
    f"she is 15, room 304, plate {WORD[:4]}123, 4411 {WORD} Ave, {WORD}@mail.example",
    f"{WORD}{WORD}{WORD}eee helppp meee z0rblax1an",
]


def _inside_triage(thing: object) -> bool:
    name = getattr(thing, "__module__", None) or getattr(thing, "__name__", "") or ""
    return isinstance(name, str) and (name == "triage" or name.startswith("triage."))


def _strings_reachable_from(roots: Iterable[object]) -> Iterator[str]:
    """Every string reachable from the roots, without leaving triage for other packages."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        thing = stack.pop()
        if id(thing) in seen:
            continue
        seen.add(id(thing))
        if isinstance(thing, str):
            yield thing
            continue
        if isinstance(thing, bytes):
            yield thing.decode("utf-8", "replace")
            continue
        if isinstance(thing, types.ModuleType | type | types.FunctionType) and not (
            _inside_triage(thing)
        ):
            continue  # the standard library and other packages hold no tip of ours
        if isinstance(thing, dict):
            stack.extend(thing)  # a dict with string keys shows the collector its values only
        stack.extend(gc.get_referents(thing))


def _triage_roots() -> list[object]:
    modules = [m for name, m in sys.modules.items() if name.split(".")[0] == "triage"]
    return [*modules, shipped_engine()]


def test_the_walk_reaches_the_tables_the_engine_keeps() -> None:
    strings = set(_strings_reachable_from(_triage_roots()))
    assert "pasaport" in strings  # a spelling variant, kept in the normaliser's tables
    assert any(s.startswith("passport") for s in strings)  # a known piece
    assert "O2" in strings  # an override id, kept in the rule set


def test_no_structure_of_triage_holds_a_word_of_a_tip_after_assess() -> None:
    for tip in TIPS:
        result = triage.assess(tip)
        assert result.indicators or result.entities  # the tips were really read
        triage.assess(tip, "es", default_region="MX")
    del result
    gc.collect()
    kept = [s for s in _strings_reachable_from(_triage_roots()) if "zorbla" in s.casefold()]
    assert kept == []


def test_the_table_of_known_pieces_after_many_tips_is_the_one_built_at_load() -> None:
    engine = shipped_engine()
    for tip in TIPS * 20:
        engine.assess(tip)
    fresh = build_engine()
    assert dict(engine.normaliser.known_pieces()) == dict(fresh.normaliser.known_pieces())
    assert not any("zorbla" in key for key in engine.normaliser.known_pieces())
