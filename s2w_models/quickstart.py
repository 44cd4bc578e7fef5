"""`s2w-models quickstart`: the whole product end to end on a fresh machine, everything under one folder.

synthesize emotional scenes -> prepare them -> train the tiny CNN, encoder (= ConvSeq2Seq baseline) and
Scene2Wav -> generate a run for held-out scenes -> diagnose the conditioning -> `s2w-eval pam` -> `s2w-eval
chords` -> `s2w-eval dist` -> `s2w-eval calibrate` -> `s2w-eval survey build` -> `s2w-eval report`. Each step records what it did in `<out>/quickstart.json`; a second invocation with
the same settings reuses every finished step (and the steps themselves resume per item).

Layout under `--out` (default `quickstart/`):
```
synth/                      synthetic movies (COGNIMUSE source format)
data/                       the prepared dataset (samples.csv, dataset.json, arrays)
train/{cnn,encoder,scene2wav}/best.pt     checkpoints (encoder = the ConvSeq2Seq baseline)
runs/<run>/                 the generated run (docs/generation.md, "What a run holds")
reports/<run>/              pam, chords, dist, calibrate .csv/.json, survey/, report.html/.md/.tex
cache/                      embedding cache of the perceptual metrics
quickstart.json             steps, settings, timings, provenance
```
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

import s2w_eval
from s2w_eval.errors import Problem, UsageError
from s2w_eval.results import atomic_write_json, provenance

PROTOCOL = "quickstart"
RUN_NAME = "synthetic-test"
# the synthetic movies end in a run of short scenes of both emotions (at least 6 s); taking the last 20 % of
# each training movie for validation puts both emotions in the validation split even for 30 s movies
VAL_FRACTION = 0.2
#: what each preset's Scene2Wav can and cannot show (measured; docs/models.md "What learns"), for the report
PRESET_NOTES = {
    "tiny": "tiny preset: its SampleRNN's sample-level MLP reads the previous 4 samples, too few to continue a "
    "chord (measured: noise for every scene, whatever it is trained on). The run shows that the pipeline works "
    "end to end; it cannot show a Scene2Wav that uses the scene, and its PAM, chord and survey numbers say "
    "nothing about the models. The `small` recipe (docs/models.md) trains models that do.",
    "small": "small preset: on 12 minutes of synthetic movie its Scene2Wav uses the scene (NLL gap 0.036 bits per "
    "sample) but its chords agree with the scene's emotion on 29% of clips only (docs/models.md, "
    "benchmarks/bench_learning.py); the diagnostics say how much this Scene2Wav uses the scene.",
    "paper": "paper preset: the published sizes; a few minutes of synthetic data are far too little for them.",
}


@dataclass(frozen=True)
class QuickstartConfig:
    minutes: float = 3.0  # minutes of synthetic movie
    movies: int = 3
    clips: int = 8  # held-out clips generated and scored (balanced by emotion)
    preset: str = "tiny"
    pam_metrics: str = "cdpam,dpam"
    max_figures: int = 8
    device: str = "cpu"
    protocol: str = PROTOCOL

    @classmethod
    def small(cls, **kw: Any) -> QuickstartConfig:
        """The reduced size the end-to-end test runs (about a minute of CPU)."""
        base = {"minutes": 1.0, "movies": 2, "clips": 4, "max_figures": 4}
        base.update({k: v for k, v in kw.items() if v is not None})
        return cls(**base)


@dataclass
class StepRecord:
    name: str
    status: str  # done | reused | problems | skipped
    seconds: float
    detail: str = ""


@dataclass
class QuickstartResult:
    out: Path
    run: Path
    results: Path
    steps: list[StepRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def _echo(msg: str) -> None:
    click.echo(msg, err=True)


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _State:
    """`quickstart.json`: per step the key of its settings; a step whose key and outputs match is reused."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("steps", {})

    def done(self, step: str, key: str) -> bool:
        rec = self.data["steps"].get(step) or {}
        return rec.get("key") == key and rec.get("status") in ("done", "reused")

    def record(self, step: str, key: str, status: str, seconds: float, detail: str = "") -> None:
        self.data["steps"][step] = {
            "key": key,
            "status": status,
            "seconds": round(seconds, 2),
            "detail": detail,
        }
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


def _eval_cli(args: list[str]) -> int:
    """Run an `s2w-eval` sub-command in this process (same exit-code rules as the console script)."""
    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main

    return run_main(cli, args)


def run_quickstart(
    out: str | Path = "quickstart",
    cfg: QuickstartConfig | None = None,
    *,
    progress: bool = True,
    log: Callable[[str], None] = _echo,
) -> QuickstartResult:
    """Run (or resume) every step; returns what each step did. Raises UsageError for a wrong call."""
    cfg = cfg or QuickstartConfig()
    from .config import bounded

    bounded("minutes of synthetic movie", cfg.minutes, 0.01, 600)  # NaN refused too
    if cfg.clips < 2 or cfg.movies < 2:
        raise UsageError("at least 2 clips and 2 movies are needed (one held out)")
    from s2w_eval.protocols import load_protocol

    proto = load_protocol(cfg.protocol)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "runs" / RUN_NAME
    res_dir = out / "reports" / RUN_NAME
    result = QuickstartResult(out, run_dir, res_dir)
    state = _State(out / "quickstart.json")
    state.data["settings"] = asdict(cfg)
    state.data["protocol"] = proto.provenance()
    t_start = time.perf_counter()
    seconds = max(1, math.ceil(proto.duration))
    steps: list[tuple[str, dict[str, Any], Callable[[], str], Callable[[], bool]]] = []

    # 1. synthesize
    def synth() -> str:
        from s2w_models.data.synth import synthesize

        folders = synthesize(
            out / "synth",
            minutes=cfg.minutes,
            seed=proto.seed("synth"),
            movies=cfg.movies,
            sample_rate=22050,
            progress=progress,
        )
        return f"{len(folders)} movies, {cfg.minutes:g} min"

    steps.append(
        (
            "synthesize scenes",
            {"minutes": cfg.minutes, "movies": cfg.movies, "seed": proto.seed("synth")},
            synth,
            lambda: (out / "synth" / "synth.json").is_file(),
        )
    )

    # 2. prepare
    def prep() -> str:
        from s2w_models.data.prepare import prepare

        r = prepare(
            out / "synth",
            out / "data",
            seconds=seconds,
            sample_rate=proto.sample_rate,
            val_fraction=VAL_FRACTION,
            progress=progress,
            log=lambda m: None,
        )
        result.problems.extend(r.problems)
        counts = {s: sum(row["split"] == s for row in r.rows) for s in ("train", "val", "test")}
        if counts["test"] < 2:
            raise UsageError(
                f"only {counts['test']} held-out clips",
                out / "data",
                "make the synthetic movie longer (minutes)",
            )
        return ", ".join(f"{k} {v}" for k, v in counts.items()) + f" clips of {seconds} s"

    steps.append(
        (
            "prepare dataset",
            {"seconds": seconds, "sr": proto.sample_rate, "val": VAL_FRACTION, "up": _key(steps[0][1])},
            prep,
            lambda: (out / "data" / "dataset.json").is_file(),
        )
    )

    # 3-5. train
    train_key = {"preset": cfg.preset, "seed": proto.seed("train"), "data": _key(steps[1][1])}

    def trainer(stage: str) -> Callable[[], str]:
        def go() -> str:
            from s2w_models.train import train_stage

            summ = train_stage(
                stage,
                out / "data",
                out / "train",
                preset=cfg.preset,
                overrides={"train.seed": proto.seed("train")},
                resume=True,
                device=cfg.device,
                progress=progress,
            )[stage]
            loss = summ.get("best_val_loss")
            return (
                f"{summ.get('status')}, best validation loss {loss:.4f}"
                if loss is not None
                else str(summ.get("status"))
            )

        return go

    for stage, label in (
        ("cnn", "train CNN"),
        ("encoder", "train encoder + ConvSeq2Seq baseline"),
        ("scene2wav", "train Scene2Wav"),
    ):
        steps.append(
            (
                label,
                dict(train_key, stage=stage),
                trainer(stage),
                lambda stage=stage: (out / "train" / stage / "best.pt").is_file(),
            )
        )

    # 6. generate
    def gen() -> str:
        from s2w_models.generate import generate_run

        r = generate_run(
            [out / "train" / "encoder" / "best.pt", out / "train" / "scene2wav" / "best.pt"],
            out / "data",
            run_dir,
            split="test",
            n=cfg.clips,
            protocol=proto.path,
            device=cfg.device,
            progress=progress,
        )
        result.problems.extend(r.problems)
        rtf = ", ".join(f"{k} RTF {v:.2f}" for k, v in r.rtf.items() if v is not None)
        return f"{len(r.samples)} clips ({rtf or 'reused'})"

    steps.append(
        (
            "generate run",
            {"clips": cfg.clips, "train": _key(train_key), "protocol": proto.sha256},
            gen,
            lambda: (run_dir / "samples.csv").is_file(),
        )
    )

    gen_settings = steps[-1][1]

    # 6b. diagnostics: how much the trained Scene2Wav uses the scene (the report carries <run>/diagnostics.json)
    def diag() -> str:
        from s2w_models.diagnose import diagnose

        d = diagnose(
            out / "train" / "scene2wav" / "best.pt",
            out / "data",
            split="val",
            clips=8,
            seconds=1.0,
            device=cfg.device,
        )
        d["notes"] = [PRESET_NOTES.get(cfg.preset, f"{cfg.preset} preset")]
        atomic_write_json(run_dir / "diagnostics.json", d)
        return d["verdict"]

    steps.append(
        (
            "diagnose conditioning",
            {"train": _key(train_key), "v": 1},
            diag,
            lambda: (run_dir / "diagnostics.json").is_file(),
        )
    )

    # 7. PAM
    def pam() -> str:
        scores = s2w_eval.pam(
            [run_dir],
            proto,
            metrics=cfg.pam_metrics.split(","),
            out=out / "reports",
            cache_dir=out / "cache",
            device=cfg.device,
            progress=progress,
        )
        _record_scores(scores, "s2w-eval pam", res_dir / "pam.json", result)
        return _pam_headline(res_dir / "pam.json")

    steps.append(
        (
            "score PAM",
            {"metrics": cfg.pam_metrics, "gen": _key(gen_settings)},
            pam,
            lambda: (res_dir / "pam.json").is_file(),
        )
    )

    # 8. chords
    def chords() -> str:
        scores = s2w_eval.chords([run_dir], proto, out=out / "reports", progress=progress)
        _record_scores(scores, "s2w-eval chords", res_dir / "chords.csv", result)
        return "pitch classes and labels per clip"

    steps.append(
        (
            "score chords",
            {"gen": _key(gen_settings)},
            chords,
            lambda: (res_dir / "chords.csv").is_file(),
        )
    )

    # 8b. distribution distances and metric calibration (the protocol's dist / calibrate options)
    def dist() -> str:
        scores = s2w_eval.dist(
            [run_dir], proto, out=out / "reports", cache_dir=out / "cache", progress=progress
        )
        _record_scores(scores, "s2w-eval dist", res_dir / "dist.json", result)
        summary = json.loads((res_dir / "dist.json").read_text(encoding="utf-8"))["summary"]
        return "; ".join(f"{k}: closest {d['closest']}" for k, d in summary.items())

    steps.append(
        (
            "score distributions",
            {"gen": _key(gen_settings), "dist": proto.metric("dist")},
            dist,
            lambda: (res_dir / "dist.json").is_file(),
        )
    )

    def calibrate() -> str:
        scores = s2w_eval.calibrate([run_dir], proto, out=out / "reports", progress=progress)
        _record_scores(scores, "s2w-eval calibrate", res_dir / "calibrate.json", result)
        summary = json.loads((res_dir / "calibrate.json").read_text(encoding="utf-8"))["summary"]
        noise = {m: s["ladders"].get("noise", {}).get("spearman") for m, s in summary.items()}
        return "noise-ladder Spearman " + ", ".join(
            f"{m} {v:.2f}" if isinstance(v, float) and v == v else f"{m} n/a" for m, v in noise.items()
        )

    steps.append(
        (
            "calibrate metrics",
            {"gen": _key(gen_settings), "calibrate": proto.metric("calibrate")},
            calibrate,
            lambda: (res_dir / "calibrate.json").is_file(),
        )
    )

    # 9. survey build
    def survey() -> str:
        rc = _eval_cli(
            ["survey", "build", str(run_dir), "--protocol", str(proto.path), "--out", str(res_dir / "survey")]
        )
        _check_rc(rc, "s2w-eval survey build", res_dir / "survey" / "batch.csv", result)
        return (
            f"sheets in {res_dir / 'survey'} (host media/, rebuild with "
            "`s2w-eval survey build RUN --base-url URL`, collect answers, aggregate)"
        )

    steps.append(
        (
            "build survey",
            {"gen": _key(gen_settings)},
            survey,
            lambda: (res_dir / "survey" / "batch.csv").is_file(),
        )
    )

    # 10. report (always re-rendered: cheap, and it must show the latest results)
    def report() -> str:
        rc = _eval_cli(["report", str(res_dir), "--max-figures", str(cfg.max_figures)])
        _check_rc(rc, "s2w-eval report", res_dir / "report.html", result)
        return str(res_dir / "report.html")

    steps.append(
        ("write report", {"always": time.time()}, report, lambda: (res_dir / "report.html").is_file())
    )

    n = len(steps)
    for k, (name, settings, fn, exists) in enumerate(steps, start=1):
        key = _key(settings)
        t0 = time.perf_counter()
        elapsed = t0 - t_start
        if state.done(name, key) and exists():
            rec = StepRecord(name, "reused", 0.0, state.data["steps"][name].get("detail", ""))
            log(f"[{k}/{n}] {name}: reused ({rec.detail})")
        else:
            log(f"[{k}/{n}] {name} ... (elapsed {elapsed:.0f} s)")
            before = len(result.problems)
            detail = fn()
            status = (
                "problems"
                if len(result.problems) > before
                else "skipped"
                if detail.startswith("skipped")
                else "done"
            )
            rec = StepRecord(name, status, time.perf_counter() - t0, detail)
            state.record(name, key, status, rec.seconds, detail)
            log(f"[{k}/{n}] {name}: {status} in {rec.seconds:.1f} s ({detail})")
        result.steps.append(rec)
    state.data["total_seconds"] = round(time.perf_counter() - t_start, 2)
    state.data["problems"] = [p.format() for p in result.problems]
    state.data["provenance"] = provenance(
        command="s2w-models quickstart", protocol=proto.provenance(), seeds=dict(proto.seeds)
    )
    state.save()
    return result


def _check_rc(rc: int, what: str, expected: Path, result: QuickstartResult) -> None:
    if rc == 2 or (rc != 0 and not expected.exists()):
        raise UsageError(f"{what} failed (exit code {rc}); see the messages above", expected)
    if rc != 0:
        result.problems.append(
            Problem(str(expected), f"{what} reported problems (exit code {rc}); see above")
        )


def _record_scores(scores, what: str, expected: Path, result: QuickstartResult) -> None:
    """Problems of an evaluation step go into the quickstart's result (named as the command names them)."""
    if not expected.exists():
        raise UsageError(f"{what} wrote no results; see the messages above", expected)
    for p in scores.problems:
        if p.warning:
            click.echo(f"warning: {p.format()}", err=True)
        else:
            result.problems.append(p)


def _pam_headline(path: Path) -> str:
    try:
        summary = json.loads(path.read_text(encoding="utf-8")).get("summary") or {}
    except (OSError, ValueError):
        return "no summary"
    parts = []
    for metric, ms in summary.items():
        means = ", ".join(
            f"{c} {d.get('mean'):.3f}"
            for c, d in (ms.get("conditions") or {}).items()
            if isinstance(d.get("mean"), int | float)
        )
        parts.append(f"{metric}: {means}")
    return "; ".join(parts) or "no summary"


def summary_table(result: QuickstartResult) -> str:
    from tabulate import tabulate

    rows = [[i, s.name, s.status, f"{s.seconds:.1f}", s.detail] for i, s in enumerate(result.steps, start=1)]
    return tabulate(
        rows, headers=["#", "step", "status", "seconds", "result"], tablefmt="github", disable_numparse=True
    )


def main_summary(result: QuickstartResult, stream=None) -> None:
    stream = stream or sys.stdout
    click.echo(summary_table(result), file=stream)
    click.echo(
        f"\nrun:     {result.run}\nresults: {result.results}\nreport:  {result.results / 'report.html'}",
        file=stream,
    )
