"""The survey design a build follows, read from a protocol's `survey:` block (DESIGN.md section 4).

Defaults are the paper's AB test: pairs scene2wav x baseline, scene2wav x target, baseline x target; 20 raters;
10 negative and 10 positive scene sets; one task (HIT) per scene set holding its pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import UsageError

DEFAULT_PROTOCOL = "cognimuse-3s"
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (
    ("scene2wav", "baseline"),
    ("scene2wav", "target"),
    ("baseline", "target"),
)
DEFAULT_QUESTION = "Which clip do you prefer?"
CHECK_KINDS = ("defect", "repeat")  # attention check i (0-based) is CHECK_KINDS[i % 2]


@dataclass(frozen=True)
class SurveyDesign:
    pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS
    raters: int = 20
    scenes: dict[str, int] = field(default_factory=lambda: {"negative": 10, "positive": 10})
    allow_no_preference: bool = False
    attention_checks: int = 2
    min_seconds: float = 0.0
    counterbalance: bool = True
    question: str = DEFAULT_QUESTION
    tasks_per_rater: int | None = None
    ci_level: float = 0.95
    protocol_name: str = "builtin"
    protocol_version: str = "0"

    @property
    def conditions(self) -> list[str]:
        out: list[str] = []
        for a, b in self.pairs:
            for c in (a, b):
                if c not in out:
                    out.append(c)
        return out

    @property
    def check_kinds(self) -> list[str]:
        return [CHECK_KINDS[i % len(CHECK_KINDS)] for i in range(self.attention_checks)]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pairs"] = [list(p) for p in self.pairs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SurveyDesign:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "pairs" in known:
            known["pairs"] = tuple(tuple(p) for p in known["pairs"])
        return cls(**known)


def design_from_protocol(protocol) -> SurveyDesign:
    """The design a protocol's `survey:` block describes (missing fields: the paper's defaults)."""
    s = dict(getattr(protocol, "survey", {}) or {})
    kw: dict[str, Any] = {"protocol_name": protocol.name, "protocol_version": str(protocol.version)}
    if "pairs" in s:
        kw["pairs"] = tuple(tuple(p) for p in s["pairs"])
    for key in (
        "raters",
        "allow_no_preference",
        "attention_checks",
        "counterbalance",
        "question",
        "tasks_per_rater",
        "ci_level",
    ):
        if key in s:
            kw[key] = s[key]
    if "min_seconds" in s:
        kw["min_seconds"] = float(s["min_seconds"])
    if "scenes" in s:
        kw["scenes"] = {k: int(v) for k, v in s["scenes"].items()}
    return SurveyDesign(**kw)


def load_design(protocol: str | None) -> tuple[SurveyDesign, Any]:
    """(design, protocol object) for a protocol name or path (default: the paper's 3 s protocol)."""
    from ..protocols import load_protocol

    proto = load_protocol(protocol or DEFAULT_PROTOCOL)
    return design_from_protocol(proto), proto


def parse_pairs(text: str, conditions: list[str] | None = None) -> tuple[tuple[str, str], ...]:
    """'scene2wav:baseline,scene2wav:target' -> pairs; a usage error when malformed."""
    pairs: list[tuple[str, str]] = []
    for chunk in [c.strip() for c in text.split(",") if c.strip()]:
        if ":" in chunk:
            a, _, b = chunk.partition(":")
        else:
            raise UsageError(
                f"malformed pair {chunk!r}", fix="write pairs as first:second, e.g. scene2wav:baseline"
            )
        a, b = a.strip(), b.strip()
        if not a or not b or a == b:
            raise UsageError(f"malformed pair {chunk!r}: two different condition names are needed")
        if frozenset((a, b)) in {frozenset(p) for p in pairs}:
            raise UsageError(f"pair {chunk!r} listed twice")
        pairs.append((a, b))
    if not pairs:
        raise UsageError("--pairs names no pair", fix="e.g. --pairs scene2wav:baseline,scene2wav:target")
    return tuple(pairs)
