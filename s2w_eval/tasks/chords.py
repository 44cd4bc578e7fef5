"""Chords as a task: notes, pitch classes, chords and key of every clip, and the Emotional Circle of Fifths labels.

Rows: one per sample x condition x method (chords.csv), from metrics.chords.detection_row; per clip a notes
.lab, a chords .lab (mir_eval style) and a MIDI file under clips/<condition>/. Summary: metrics.chords.summarize
(label = intended emotion shares with Wilson CIs, agreement between conditions), and per label rule the run's
label scheme (valence2, valence3, quadrant: metrics.emotion) with the agreement per intended class (Wilson CIs)
and the confusion matrix intended class x circle label.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem, S2WError, SilentAudioError
from ..features.detect import detect, get_method, params_hash, silent_detection
from ..io.audio import load_audio, probe_audio
from ..metrics import chords as chordmetrics
from ..metrics import emotion as emotionmetrics
from ..names import safe_stem
from .base import Context, Item, Task, items_of


def _slug(method_id: str) -> str:
    return method_id.replace("/", "-v")


def write_clip_files(det, folder, stem: str) -> dict[str, str]:
    """<stem>.notes.lab, <stem>.chords.lab (mir_eval style) and <stem>.mid (music21) for one clip."""
    from ..features.notes import lab_text, notes_lab, write_midi
    from ..io.files import atomic_write_text

    folder = Path(folder)
    paths = {
        "notes_lab": folder / f"{stem}.notes.lab",
        "chords_lab": folder / f"{stem}.chords.lab",
        "midi": folder / f"{stem}.mid",
    }
    atomic_write_text(paths["notes_lab"], notes_lab(det.notes))
    atomic_write_text(paths["chords_lab"], lab_text((s.start, s.end, s.label) for s in det.chords))
    write_midi(det.notes, paths["midi"])
    return {k: str(v) for k, v in paths.items()}


class ChordsTask(Task):
    name = "chords"
    command = "s2w-eval chords"
    columns = chordmetrics.CSV_COLUMNS
    unit = "clip"

    def __init__(
        self,
        methods: Sequence[tuple[str, Mapping[str, Any]]],
        conditions: Sequence[str] | None = None,
        tie_tolerance: float = 0.05,
        level: float = 0.95,
        primary: str = "label",
        reference: str = "target",
    ):
        #: the condition whose clips the others are checked against (copies, durations)
        self.reference = reference
        self.methods = {}
        for name, overrides in methods:
            m = get_method(name)
            p = m.params(overrides)
            self.methods[m.id] = (m, p, params_hash(m.id, p))
        self.conditions = list(conditions) if conditions is not None else None
        self.tie_tolerance = tie_tolerance
        self.level = level
        self.primary = primary

    def items(self, ctx: Context) -> list[Item]:
        run = ctx.run
        missing = run.missing_emotions()
        if missing:
            raise DataError(
                f"{len(missing)} sample(s) have no intended emotion (e.g. {missing[0]!r}); chords compares each "
                "clip's label with it",
                run.root / "samples.csv",
                "give samples.csv an emotion column (`s2w-eval run init DIR --emotions TABLE` writes one)",
            )
        if self.conditions is None:
            conds = list(run.conditions)
        else:
            conds = [c for c in self.conditions if c in run.conditions]
            for c in self.conditions:
                if c not in run.conditions:
                    ctx.problems.append(
                        Problem(
                            str(run.root / c),
                            f"condition {c!r} not in run {run.name!r}",
                            f"the run has: {', '.join(run.conditions) or 'no conditions'}",
                        )
                    )
        self.scored_conditions = conds
        self._sample_order = {s.id: i for i, s in enumerate(run.samples)}
        self._cond_order = {c: i for i, c in enumerate(conds)}
        # clip-major order: every method of one clip before the next clip (the clip is loaded once)
        items = items_of(run, conds, [""])
        return [Item(i.sample, i.condition, i.path, None, mid) for i in items for mid in self.methods]

    def key_params(self, item: Item) -> Mapping[str, Any]:
        m, p, ph = self.methods[item.variant]
        return {"method": m.id, "params_hash": ph, "tie_tolerance": self.tie_tolerance}

    def clip_folder(self, ctx: Context, item: Item) -> Path:
        return ctx.out_dir / "clips" / safe_stem(item.condition)

    def clip_stem(self, item: Item) -> str:
        return f"{safe_stem(item.sample.id)}.{_slug(item.variant)}"

    def reusable(self, item: Item, row: Mapping[str, Any], ctx: Context) -> bool:
        return (self.clip_folder(ctx, item) / f"{self.clip_stem(item)}.mid").exists()

    def compute(
        self, items: Sequence[Item], ctx: Context
    ) -> Iterator[tuple[Item, dict[str, Any] | S2WError]]:
        loaded: tuple[Path, Any] | None = None
        for item in items:
            ctx.advance(1)
            m, p, ph = self.methods[item.variant]
            if loaded is None or loaded[0] != item.path:
                try:
                    loaded = (item.path, load_audio(item.path))
                except SilentAudioError:  # an all-zero clip is a valid answer: label 0, reason "silent"
                    loaded = (item.path, "silent")
                except DataError as exc:
                    loaded = (item.path, exc)
            audio = loaded[1]
            if isinstance(audio, DataError):
                yield item, audio
                continue
            if audio == "silent":
                try:
                    duration = probe_audio(item.path).duration
                except DataError as exc:
                    yield item, exc
                    continue
                det = silent_detection(m.id, p, duration)
            else:
                det = detect(audio[0], audio[1], m.id, p)
            row = chordmetrics.detection_row(
                det, item.sample.id, item.sample.emotion, item.condition, self.tie_tolerance
            )
            row.update({"file": ctx.relative(item.path), "sha256": ctx.digests[item.path], "params_hash": ph})
            write_clip_files(det, self.clip_folder(ctx, item), self.clip_stem(item))
            yield item, row

    def sort_key(self, row: Mapping[str, Any]) -> Any:
        return (
            row["method"],
            self._sample_order.get(row["sample"], 0),
            self._cond_order.get(row["condition"], 0),
        )

    def validity(self, rows, ctx: Context) -> dict[str, Any] | None:
        """Checks of the clips, with the primary label of the first method (a condition whose clips all get
        one label while the reference's differ is named)."""
        from .checks import run_validity

        first = next(iter(self.methods), None)
        labels: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["method"] == first:
                labels.setdefault(r["condition"], {})[r["sample"]] = r[self.primary]
        return run_validity(ctx, self.scored_conditions, self.reference, labels)

    def summarize(self, rows, ctx: Context) -> dict[str, Any]:
        summary = chordmetrics.summarize(rows, self.scored_conditions, self.level)
        summary["primary_label"] = self.primary
        summary["emotion_classes"] = emotion_classes(rows, self.level)
        return summary

    def document(self, rows, summary, ctx: Context) -> dict[str, Any]:
        return {
            "run": ctx.run.name,
            "run_path": str(ctx.run.root),
            "conditions": self.scored_conditions,
            "methods": {
                mid: {"params": p, "params_hash": ph, "description": m.description}
                for mid, (m, p, ph) in self.methods.items()
            },
            "label_rules": {
                "label": "the paper's Emotional Circle of Fifths over the set of detected pitch classes",
                "label_weighted": f"pitch classes weighted by seconds sounding; ties within "
                f"{self.tie_tolerance:.0%} of the total are 0",
                "label_key": "mode of the music21 (Krumhansl-Schmuckler) key: major +, minor -, none 0",
            },
            **summary,
        }

    def tables(self, rows, doc, title: str) -> list:
        return chords_tables(rows, doc, self.scored_conditions, title, self.primary)


def emotion_classes(rows, level: float = 0.95) -> dict[str, Any]:
    """Per label rule: metrics.emotion.scheme_summary (scheme, per-class agreement, confusion matrix); when the
    intended emotions mix classes of different schemes, {"error": why} instead."""
    if not rows:
        return {}
    try:
        return {
            col: emotionmetrics.scheme_summary(rows, col, ("method", "condition"), level)
            for col in chordmetrics.LABEL_COLUMNS
        }
    except ValueError as exc:
        return {"error": str(exc)}


def emotion_class_tables(summary, title: str, primary: str = "label", method: str | None = None) -> list:
    """The per-class agreement and the confusion matrix of `summary["emotion_classes"][primary]` (the console's
    and the report's tables), for one method or all."""
    from ..report.tables import Table, fmt_ci, fmt_pct

    classes = summary.get("emotion_classes") if isinstance(summary, Mapping) else None
    es = classes.get(primary) if isinstance(classes, Mapping) else None
    if not isinstance(es, Mapping) or not es.get("per_class"):
        return []
    mine = [r for r in es["per_class"] if not method or r.get("method") == method]
    conf = [r for r in es.get("confusion") or [] if not method or r.get("method") == method]
    return [
        Table(
            f"{title}: agreement per intended class, {es.get('scheme')} scheme ({primary}, Wilson 95% CI)",
            ["method", "condition", "intended", "expects", "n", "agree", "share", "95% CI"],
            [
                [
                    str(r.get("method", "")),
                    str(r.get("condition", "")),
                    str(r.get("class", "")),
                    str(r.get("expected_label", "")),
                    str(r.get("n", "")),
                    str(r.get("matches", "")),
                    fmt_pct(r.get("share")),
                    fmt_ci(r.get("ci_low"), r.get("ci_high"), 3),
                ]
                for r in mine
            ],
        ),
        Table(
            f"{title}: confusion matrix, intended class x circle label ({primary})",
            ["method", "condition", "intended", "-", "0", "+"],
            [
                [str(r.get("method", "")), str(r.get("condition", "")), str(r.get("intended", ""))]
                + [str(r.get(k, "")) for k in "-0+"]
                for r in conf
            ],
        ),
    ]


def chords_tables(rows, summary, conditions, title: str, primary: str = "label") -> list:
    """The paper's Table 4 shape per method, the share of labels equal to the intended emotion (all three
    rules, Wilson CIs), and the agreement between conditions under the primary rule."""
    from ..metrics.chords import table4
    from ..report.tables import Table

    out = []
    for m in dict.fromkeys(r["method"] for r in rows):
        t4 = table4(rows, conditions, m)
        headers = list(t4[0]) if t4 else ["sample", "intended"]
        out.append(
            Table(
                f"{title}: pitch classes and Emotional Circle of Fifths labels ({m})",
                headers,
                [[str(r[h]) for h in headers] for r in t4],
            )
        )
    match = [s for s in summary["match"] if s["label_column"] in ("label", "label_weighted", "label_key")]
    if match:
        out.append(
            Table(
                f"{title}: share of clips whose label equals the intended emotion (Wilson 95% CI)",
                ["method", "condition", "rule", "n", "label = intended", "95% CI"],
                [
                    [
                        s["method"],
                        s["condition"],
                        s["label_column"],
                        str(s["n"]),
                        f"{s['matches']}/{s['n']} ({s['share']:.0%})",
                        f"[{s['ci_low']:.2f}, {s['ci_high']:.2f}]",
                    ]
                    for s in match
                ],
            )
        )
    out += emotion_class_tables(summary, title, primary)
    agree = [a for a in summary["agreement"] if a["label_column"] == primary]
    if agree:
        out.append(
            Table(
                f"{title}: agreement between conditions ({primary})",
                ["method", "conditions", "n", "same label", "mean Jaccard of sets"],
                [
                    [
                        a["method"],
                        f"{a['condition_a']} ~ {a['condition_b']}",
                        str(a["n"]),
                        f"{a['same_label']}/{a['n']}",
                        f"{a['mean_jaccard']:.2f}",
                    ]
                    for a in agree
                ],
            )
        )
    return out
