"""What `assess` returns: the verdict on one tip and the evidence behind it."""

from __future__ import annotations

from dataclasses import dataclass

URGENCIES = ("critical", "high", "medium", "low")
CATEGORIES = (
    "sex_trafficking",
    "labor_trafficking",
    "domestic_servitude",
    "organ_trafficking",
    "other",
)
ENTITY_KINDS = ("phone", "email", "url", "plate", "age", "address", "room", "time")


@dataclass(frozen=True, slots=True)
class Indicator:
    """A rule that fired, with where it matched (character offsets into the original text)."""

    rule_id: str
    label: str
    weight: float
    family: str
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A rule that matched but was set aside, and why ("negated", "other sense", "cancelled")."""

    rule_id: str
    label: str
    reason: str
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Entity:
    """Something specific a tip names, normalised so two tips can be linked by a keyed hash."""

    kind: str
    value: str
    span: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Assessment:
    """The triage verdict on one tip."""

    urgency: str
    score: float
    category: str
    minors: bool
    indicators: tuple[Indicator, ...]
    lang: str
    entities: tuple[Entity, ...]
    rules_version: str
    overrides: tuple[str, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()

    def explain(self) -> str:
        """A few lines a dispatcher reads at a glance. Entity values appear: dispatcher only."""
        lines = [f"{self.urgency.upper()} (score {_number(self.score)}) · {self.category}"]
        lines[0] += f" · minors: {'yes' if self.minors else 'no'} · lang: {self.lang}"
        if self.overrides:
            lines.append("overrides: " + ", ".join(self.overrides))
        lines.extend("note: " + note for note in self.notes)
        if self.indicators:
            lines.append("indicators:")
            lines.extend(
                f"  {i.rule_id:<5} {_signed(i.weight):>4}  {i.label}" for i in self.indicators
            )
        else:
            lines.append("indicators: none")
        if self.skipped:
            skipped = ", ".join(f"{s.rule_id} ({s.reason})" for s in self.skipped)
            lines.append("skipped: " + skipped)
        kinds: dict[str, list[str]] = {}
        for entity in self.entities:
            values = kinds.setdefault(entity.kind, [])
            if entity.value not in values:
                values.append(entity.value)
        if kinds:
            lines.append("entities:")
            lines.extend(f"  {kind}: {', '.join(values)}" for kind, values in kinds.items())
        lines.append(f"rules {self.rules_version}")
        return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:g}"


def _signed(value: float) -> str:
    return f"{value:+g}"
