"""The survey design a build follows, read from a protocol's `survey:` block.

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
DEFAULT_TITLE = "Which music clip do you prefer? (short listening test, headphones required)"
DEFAULT_CONSENT = (
    "This task is part of a research study on music generated for film scenes. Taking part is voluntary: "
    "you may stop at any time by returning the task. We record only your answers, how often you played "
    "each clip and how long each answer took, with your anonymous worker id; nothing that identifies you. "
    "Submitting the task means that you agree to these terms."
)
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
    # what raters read and are paid (the protocol's `survey:` block may override every one)
    title: str = DEFAULT_TITLE
    instructions: str | None = None  # None: written from the design (what is compared, how to answer)
    consent: str = DEFAULT_CONSENT
    reward: str = "0.50"  # US dollars per task (HIT)
    minutes: float = 5.0  # the stated time a task takes (payment text, MTurk assignment duration x 3)
    bonus: str = "0.00"  # paid per assignment of a rater who passed every check (0: no bonus file)
    # quality control
    headphone_trials: int = 6  # Woods et al. (2017) anti-phase headphone screening; 0: none
    headphone_pass: int = 5  # trials right out of headphone_trials to pass (Woods et al.: 5 of 6)
    headphone_tone_seconds: float = 1.0
    practice: bool = True  # one unscored practice pair at the start of every task
    # MTurk worker requirements, as CreateHIT's QualificationRequirements (e.g. approval rate, locale)
    qualifications: tuple = ()
    protocol_name: str = "builtin"
    protocol_version: str = "0"

    def __post_init__(self) -> None:
        if self.headphone_trials < 0 or (
            self.headphone_trials and not 0 <= self.headphone_pass <= self.headphone_trials
        ):
            raise UsageError(
                f"headphone_pass {self.headphone_pass} must lie between 0 and headphone_trials "
                f"{self.headphone_trials}"
            )
        for name in ("reward", "bonus"):
            try:
                ok = float(getattr(self, name)) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise UsageError(f"survey {name} {getattr(self, name)!r} is not an amount in dollars")

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
        if "qualifications" in known:
            known["qualifications"] = tuple(dict(q) for q in known["qualifications"] or ())
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
        "title",
        "instructions",
        "consent",
        "headphone_trials",
        "headphone_pass",
        "practice",
    ):
        if key in s:
            kw[key] = s[key]
    if "qualifications" in s:
        kw["qualifications"] = tuple(dict(q) for q in s["qualifications"] or ())
    for key in ("min_seconds", "minutes", "headphone_tone_seconds"):
        if key in s:
            kw[key] = float(s[key])
    for key in ("reward", "bonus"):  # money stays a decimal string ("0.50"), as MTurk takes it
        if key in s:
            kw[key] = f"{float(s[key]):.2f}"
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
        raise UsageError("names no pair", fix="e.g. scene2wav:baseline,scene2wav:target", param="pairs")
    return tuple(pairs)
