"""s2w's Python API: what the CLI, the quickstart and users' scripts call.

    import s2w_eval
    scores = s2w_eval.pam(["runs/my-run"], metrics=["dpam"], out="reports")
    for result in scores.results:
        print(result.run.name, result.doc["summary"]["dpam-scratch/paper2020"]["conditions"])
    scores.exit_code   # 0: every input scored; 1: some input was bad (see scores.problems)

`score(paths, task, protocol=None, **overrides)` runs any registered task ("pam", "chords", ...) on every run
found under `paths`. The protocol is resolved per run by one rule (`resolve_protocol`): the one given >
the 10 s protocol when `long` > the protocol recorded in the run's sidecars > cognimuse-3s. Options the
caller gives override the protocol's; the resolved protocol (name, version, sha256, and why it was chosen) is
recorded in every result file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, Problem, UsageError, exit_code_of
from .features.cache import EmbeddingCache
from .io.audio import probe_audio
from .io.files import ensure_dir
from .io.runs import Run, find_runs
from .protocols import PROTOCOL_3S, PROTOCOL_10S, Protocol, load_protocol
from .runner import TaskResult, check_out_dir, run_task
from .tasks.base import Task
from .vocab import did_you_mean

#: how the protocol of a run was chosen (recorded as `protocol.source`)
SOURCES = ("given", "long", "run", "default")


@dataclass(frozen=True)
class ResolvedProtocol:
    protocol: Protocol
    #: one of SOURCES: given by the caller, the 10 s protocol asked for, recorded in the run, or the default
    source: str

    def record(self) -> dict[str, Any]:
        return {**self.protocol.provenance(), "source": self.source}


def run_protocol(run: Run) -> tuple[str, str] | None:
    """The (name, version) the run's sidecars record, when they agree; a DataError when they disagree."""
    found = Counter()
    for meta in run.sidecars.values():
        proto = meta.get("protocol") if isinstance(meta, Mapping) else None
        if isinstance(proto, Mapping) and proto.get("name"):
            found[(str(proto["name"]), str(proto.get("version", "")))] += 1
    if not found:
        return None
    if len({name for name, _ in found}) > 1:
        listed = ", ".join(f"{n} {v} ({k} clips)" for (n, v), k in found.most_common())
        raise DataError(
            f"the run's sidecars record different protocols: {listed}",
            run.root,
            "score the run with one protocol named explicitly, or regenerate it with one protocol",
        )
    return found.most_common(1)[0][0]


def resolve_protocol(
    protocol: str | Path | Protocol | None = None, long: bool = False, run: Run | None = None
) -> ResolvedProtocol:
    """One rule for every command: the protocol given > the 10 s one when `long` > the run's > cognimuse-3s."""
    if protocol is not None and long:
        raise UsageError("give either a protocol or the long (10 s) protocol, not both")
    if protocol is not None:
        return ResolvedProtocol(load_protocol(protocol), "given")
    if long:
        return ResolvedProtocol(load_protocol(PROTOCOL_10S), "long")
    recorded = run_protocol(run) if run is not None else None
    if recorded is not None:
        return ResolvedProtocol(load_protocol(recorded[0]), "run")
    return ResolvedProtocol(load_protocol(PROTOCOL_3S), "default")


def duration_tolerance(protocol: Protocol) -> float:
    """Seconds a clip may differ from the protocol's duration: 5% of it, at least 0.1 s (lossy re-exports and
    resampling add a few hundredths of a second; a 3 s clip scored under a 10 s protocol is far outside)."""
    return max(0.1, 0.05 * protocol.duration)


def check_durations(
    run: Run, protocol: Protocol, conditions: Sequence[str] | None = None, warn: bool = False
) -> list[Problem]:
    """A problem per condition whose clips do not last the protocol's duration (the numbers are still made).

    `warn`: report them as warnings (the protocol was not chosen for the run, only defaulted to)."""
    tol = duration_tolerance(protocol)
    problems = []
    for cond in conditions or sorted(run.conditions):
        off = []
        for sid, path in sorted(run.conditions.get(cond, {}).items()):
            try:
                d = probe_audio(path).duration
            except DataError:  # an unreadable clip is reported by the task that reads it
                continue
            if abs(d - protocol.duration) > tol:
                off.append((sid, d))
        if off:
            shown = ", ".join(f"{s} {d:.2f} s" for s, d in off[:3]) + (" ..." if len(off) > 3 else "")
            problems.append(
                Problem(
                    str(run.root / cond),
                    f"{len(off)} clip(s) do not last the {protocol.duration:g} s of protocol {protocol.name} "
                    f"{protocol.version} (tolerance {tol:.2f} s): {shown}; their results are labelled "
                    f"{protocol.name} all the same",
                    "score them under the protocol they were made for",
                    warning=warn,
                )
            )
    return problems


# ------------------------------------------------------------------------------------------------ tasks


def _pam_task(proto: Protocol, opts: Mapping[str, Any]) -> tuple[Task, dict[str, Any]]:
    from .tasks.pam import PamTask, build_metrics

    p = proto.metric("pam")
    names = list(opts.get("metrics") or p.get("metrics") or ["cdpam", "dpam"])
    loader = opts.get("dpam_loader") or p.get("dpam_loader", "modern")
    device = opts.get("device", "cpu")
    batch = opts.get("batch_size") or (8 if device == "cuda" else 1)
    seed = opts.get("seed")
    seed = int(proto.seeds.get("bootstrap", 0)) if seed is None else int(seed)
    metrics = build_metrics(
        names, dpam_loader=loader, device=device, precision=opts.get("precision", "float32")
    )
    task = PamTask(
        metrics,
        reference=opts.get("reference") or proto.reference,
        conditions=opts.get("conditions"),
        batch_size=int(batch),
        seed=seed,
    )
    return task, {"seeds": {"bootstrap": seed}}


def _chords_task(proto: Protocol, opts: Mapping[str, Any]) -> tuple[Task, dict[str, Any]]:
    from .features.detect import DEFAULT_METHOD, METHOD_ALIASES, METHODS
    from .tasks.chords import ChordsTask

    c = proto.metric("chords")
    names = list(opts.get("methods") or [c.get("method", DEFAULT_METHOD)])
    names = [METHOD_ALIASES.get(n, n) for n in names]
    for n in names:
        if n.split("/")[0] not in METHODS:
            raise UsageError(
                f"unknown chord method {n!r}{did_you_mean(n, list(METHODS))}; choose from {', '.join(METHODS)}"
            )
    overrides = dict(opts.get("params") or {})
    if "min_note_s" in c and "min_note_s" not in overrides:
        overrides["min_note_s"] = c["min_note_s"]
    known = {k for n in names for k in METHODS[n.split("/")[0]].defaults}
    unknown = [k for k in overrides if k not in known]
    if unknown:
        listed = "; ".join(f"{n}: {', '.join(METHODS[n.split('/')[0]].defaults)}" for n in names)
        raise UsageError(f"no selected chord method has the parameter {unknown[0]!r} (parameters: {listed})")
    methods = []
    for n in names:
        m = METHODS[n.split("/")[0]]
        own = {k: v for k, v in overrides.items() if k in m.defaults}
        try:
            m.params(own)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"bad parameter value for chord method {m.id} ({exc})") from exc
        methods.append((n, own))
    primary = "label_weighted" if c.get("weighting", "set") == "duration" else "label"
    task = ChordsTask(
        methods,
        conditions=opts.get("conditions"),
        level=float(c.get("ci_level", 0.95)),
        primary=primary,
        reference=proto.reference,
    )
    return task, {}


def _dist_task(proto: Protocol, opts: Mapping[str, Any]) -> tuple[Task, dict[str, Any]]:
    from .features.embeddings import DEFAULT_EMBEDDING, EMBEDDINGS, build_embedding
    from .tasks.dist import DistTask

    d = proto.metric("dist")
    names = list(opts.get("embeddings") or d.get("embeddings") or [DEFAULT_EMBEDDING])
    weights = opts.get("weights")
    needing = [n for n in names if n in EMBEDDINGS and EMBEDDINGS[n][0]]
    if weights is not None and len(needing) != 1:
        raise UsageError(
            "a weights file belongs to exactly one of the standard embeddings (vggish, panns-cnn14, clap, "
            f"encodec, mert); selected: {', '.join(needing) or 'none'}",
            param="weights",
        )
    seed = opts.get("seed")
    seed = int(proto.seeds.get("bootstrap", 0)) if seed is None else int(seed)
    embeddings = [
        build_embedding(n, weights if n in needing else None, device=opts.get("device", "cpu")) for n in names
    ]
    task = DistTask(
        embeddings,
        metrics=list(opts.get("metrics") or d.get("metrics") or ["kad"]),
        reference=opts.get("reference") or proto.reference,
        conditions=opts.get("conditions"),
        bandwidth=opts.get("bandwidth"),
        n_resamples=int(opts["resamples"] if opts.get("resamples") is not None else d.get("resamples", 1000)),
        seed=seed,
    )
    return task, {"seeds": {"bootstrap": seed}}


def _calibrate_task(proto: Protocol, opts: Mapping[str, Any]) -> tuple[Task, dict[str, Any]]:
    from .tasks.calibrate import CalibrateTask, build_scorers

    seed = opts.get("seed")
    seed = int(proto.seeds.get("bootstrap", 0)) if seed is None else int(seed)
    c = proto.metric("calibrate")
    scorers = build_scorers(
        list(opts.get("metrics") or c.get("metrics") or ["dpam", "cdpam", "chords", "kad"]),
        embedding=opts.get("embedding") or c.get("embedding") or "dpam",
        device=opts.get("device", "cpu"),
    )
    task = CalibrateTask(scorers, reference=opts.get("reference") or proto.reference, seed=seed)
    return task, {"seeds": {"anchors": seed}}  # the anchors' noise and the bootstrap


#: name -> builder(protocol, options) -> (task, options for the runner); new evaluations register here
TASKS: dict[str, Callable[[Protocol, Mapping[str, Any]], tuple[Task, dict[str, Any]]]] = {
    "pam": _pam_task,
    "chords": _chords_task,
    "dist": _dist_task,
    "calibrate": _calibrate_task,
}


# ------------------------------------------------------------------------------------------------ scoring


@dataclass
class Scores:
    """What `score` produced: one TaskResult per run scored, and every problem found."""

    task: str
    results: list[TaskResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    protocols: dict[str, ResolvedProtocol] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.problems)


def _dedupe(problems: Sequence[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def score(
    paths: Sequence[str | Path] | str | Path,
    task: str,
    protocol: str | Path | Protocol | None = None,
    *,
    long: bool = False,
    out: str | Path = "reports",
    cache_dir: str | Path | None = None,
    cache: bool = True,
    progress: bool | None = False,
    on_run: Callable[[TaskResult, ResolvedProtocol], None] | None = None,
    **overrides: Any,
) -> Scores:
    """Run the task on every run under `paths`; results go to `out`/<run name>/<task>.csv and .json.

    `overrides` are the task's options (pam: metrics, dpam_loader, reference, conditions, device,
    batch_size, seed, precision; chords: methods, params, conditions); None means "the protocol's".
    """
    if task not in TASKS:
        raise UsageError(
            f"unknown task {task!r}{did_you_mean(task, list(TASKS))}; choose from {', '.join(TASKS)}"
        )
    if isinstance(paths, str | Path):
        paths = [paths]
    if protocol is not None and long:
        raise UsageError("give either a protocol or the long (10 s) protocol, not both")
    problems: list[Problem] = []
    runs = find_runs(list(paths), problems)
    return score_runs(
        runs,
        task,
        protocol,
        long=long,
        out=out,
        cache_dir=cache_dir,
        cache=cache,
        progress=progress,
        on_run=on_run,
        problems=problems,
        **overrides,
    )


def score_runs(
    runs: Sequence[Run],
    task: str,
    protocol: str | Path | Protocol | None = None,
    *,
    long: bool = False,
    out: str | Path = "reports",
    cache_dir: str | Path | None = None,
    cache: bool = True,
    progress: bool | None = False,
    on_run: Callable[[TaskResult, ResolvedProtocol], None] | None = None,
    problems: Sequence[Problem] = (),
    **overrides: Any,
) -> Scores:
    """`score` for runs already loaded (io.runs.load_run, or run_from_folders for plain folders)."""
    if task not in TASKS:
        raise UsageError(
            f"unknown task {task!r}{did_you_mean(task, list(TASKS))}; choose from {', '.join(TASKS)}"
        )
    problems = list(problems)
    out = Path(out)
    for run in runs:
        check_out_dir(out / run.name, run)
    opts = {k: v for k, v in overrides.items() if v is not None}
    emb_cache = EmbeddingCache(cache_dir, enabled=cache)
    if cache:
        ensure_dir(
            emb_cache.root, "embedding cache folder"
        )  # a file in the way is a usage error now, not mid-run
    result = Scores(task)
    built: dict[tuple[str, str], tuple[Task, dict[str, Any]]] = {}
    for run in runs:
        try:
            resolved = resolve_protocol(protocol, long, run)
        except DataError as exc:
            problems.append(Problem.from_error(exc))
            continue
        proto = resolved.protocol
        key = (proto.name, proto.sha256)
        if key not in built:  # one task (one set of loaded networks) per protocol
            built[key] = TASKS[task](proto, opts)
        the_task, run_opts = built[key]
        checks = check_durations(run, proto, warn=resolved.source == "default")
        try:
            res = run_task(
                run,
                the_task,
                out / run.name,
                checks=checks,
                options=run_opts,
                protocol=resolved.record(),
                cache=emb_cache,
                progress=progress,
            )
        except DataError as exc:  # this run cannot be scored; the other runs go on
            problems.extend([*run.problems, *checks, Problem.from_error(exc)])
            continue
        problems.extend(res.problems)
        result.results.append(res)
        result.protocols[run.name] = resolved
        if on_run is not None:
            on_run(res, resolved)
    for t, _ in built.values():
        t.close()
    result.problems = _dedupe(problems)
    return result


def pam_folders(
    reference_dir: str | Path, estimate_dirs: Sequence[str | Path], protocol=None, **options: Any
) -> Scores:
    """PAM of plain folders matched by file name (no samples.csv): each estimate folder against the reference.

    Results go to `out`/<reference>-vs-<estimates>/ as for a run."""
    from .io.runs import run_from_folders

    run = run_from_folders(reference_dir, list(estimate_dirs))
    options.pop("reference", None)
    ref_condition = next(iter(run.conditions))  # the reference folder is the run's first condition
    return score_runs([run], "pam", protocol, reference=ref_condition, **options)


def pam(paths, protocol=None, **options: Any) -> Scores:
    """Perceptual distance (CDPAM, DPAM) of each condition to the reference: `score(paths, "pam", ...)`."""
    return score(paths, "pam", protocol, **options)


def chords(paths, protocol=None, **options: Any) -> Scores:
    """Chords and Emotional Circle of Fifths labels of every clip: `score(paths, "chords", ...)`."""
    return score(paths, "chords", protocol, **options)


def dist(paths, protocol=None, **options: Any) -> Scores:
    """Distribution distances (KAD, FAD, FAD-inf) of each condition's set of clips to the reference set, on
    clip embeddings (cdpam, dpam, or a standard one from a weights file): `score(paths, "dist", ...)`."""
    return score(paths, "dist", protocol, **options)


def calibrate(paths, protocol=None, **options: Any) -> Scores:
    """Anchors of known severity made from each run's reference clips, scored by every selected metric (cdpam,
    dpam, chords, kad): rank correlation with severity, hidden reference, wrong scene, run-to-run noise."""
    return score(paths, "calibrate", protocol, **options)
