"""Fault injection: kill each long command (SIGKILL, as a crash or `kill -9`) at seeded points, rerun it, and
compare every output file with an uninterrupted run's, byte for byte.

What may differ, and only that, is what describes the invocation rather than the result: `provenance`
(times, argv), wall-clock `seconds`, and the counts of what this invocation computed versus reused. Work
journals (the resume mechanism itself) and hidden temp files a kill can leave behind (`.NAME.tmp...`, never
renamed into place, skipped by every reader) are not compared. Each command is killed twice: once after a seeded
number of finished items, once after a seeded delay, then rerun to completion in-process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO, make_run

SEED = 20240612
#: keys of JSON files (and CSV columns) that describe the invocation, not the result
INVOCATION_KEYS = {
    "provenance",
    "created_utc",
    "seconds",
    "generation_time_s",
    "real_time_factor",
    "computed",
    "reused",
    "generated",
    "skipped",
}
JOURNAL_SUFFIX = "journal.jsonl"  # the item journals (`.pam.journal.jsonl`, ...): the resume mechanism
ENV = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def _kill_at(cmd: list[str], ready, delay: float | None = None, timeout: float = 240) -> bool:
    """Run `cmd`, SIGKILL it as soon as `ready()` holds (or `delay` s after its first output file); True if
    it was killed mid-run, False if it finished first."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, started = time.time() + timeout, None
    try:
        while proc.poll() is None and time.time() < deadline:
            if ready():
                if delay is None or (started is not None and time.time() - started >= delay):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    return True
                started = started or time.time()
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 1), proc.stderr.read().decode()[-3000:]
    return False


def _lines(folder: Path) -> int:
    """Finished items: lines of the item journal in `folder` (whatever the task calls it)."""
    return (
        sum(len(p.read_text().splitlines()) for p in folder.glob(f"*{JOURNAL_SUFFIX}"))
        if folder.is_dir()
        else 0
    )


def _strip(obj, roots):
    if isinstance(obj, dict):
        return {k: _strip(v, roots) for k, v in obj.items() if k not in INVOCATION_KEYS}
    if isinstance(obj, list):
        return [_strip(v, roots) for v in obj]
    if isinstance(obj, str):
        for r in roots:
            obj = obj.replace(r, "<OUT>")
    return obj


def _content(path: Path, root: Path):
    """A file's content for comparison: exact bytes, except the invocation keys of JSON, CSV and checkpoints."""
    roots = [str(root.resolve()), str(root)]
    if path.suffix == ".json":
        return _strip(json.loads(path.read_text()), roots)
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        return [_strip(r, roots) for r in rows]
    if path.suffix == ".pt":
        import torch

        p = torch.load(path, weights_only=True)
        return {
            "model": {k: v.numpy().tobytes() for k, v in p["model"].items()},
            "rest": _strip({k: v for k, v in p.items() if k not in ("model", "train_state")}, roots),
            "loop": _strip((p.get("train_state") or {}).get("loop"), roots),
            "rng": [v.numpy().tobytes() for v in (p.get("train_state") or {}).get("rng", {}).values()],
        }
    if path.name.startswith("events.out.tfevents."):
        from s2w_models.tbevents import read_scalars

        return [s for s in read_scalars(path) if s[0] != "epoch/seconds"]
    return path.read_bytes()


def assert_same_outputs(a: Path, b: Path) -> None:
    def files(root):
        out = {}
        for p in sorted(root.rglob("*")):
            # a kill mid-write can leave a hidden temp file (never renamed into place; readers skip dot files)
            hidden_tmp = p.name.startswith(".") and ".tmp" in p.name
            if p.is_file() and not p.name.endswith(JOURNAL_SUFFIX) and not hidden_tmp:
                rel = p.relative_to(root).as_posix()
                if "tfevents" in p.name:  # one events file per run; its name holds the start time and pid
                    rel = str(Path(rel).parent / "events.out.tfevents")
                out[rel] = p
        return out

    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    for rel in fa:
        assert _content(fa[rel], a) == _content(fb[rel], b), rel


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, sum(map(ord, name))])


def _one_thread(fn):
    """In-process runs use one thread, as the killed children do (OMP_NUM_THREADS=1): float sums in another
    order would differ in the last bits, and that is not what this module tests."""

    def wrapper(args) -> int:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(args)
        finally:
            torch.set_num_threads(before)

    return wrapper


@_one_thread
def _eval(args) -> int:
    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main

    return run_main(cli, args)


@_one_thread
def _models(args) -> int:
    from s2w_eval.clikit import run_main
    from s2w_models.cli import cli

    return run_main(cli, args)


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fi-run")
    samples = {f"s{i}": ("positive" if i % 2 else "negative") for i in range(4)}
    make_run(root / "runs" / "r", samples, seconds=0.4)
    return root


def _interrupted_then_resumed(cmd_args, module, out: Path, ready_factory, name: str, rerun) -> None:
    rng = _rng(name)
    k = int(rng.integers(1, 4))
    cmd = [sys.executable, "-m", module, *cmd_args]
    assert _kill_at(cmd, ready_factory(k)), "the first kill came after the job finished"
    _kill_at(cmd, ready_factory(k + 1), delay=float(rng.uniform(0.05, 0.5)))
    assert rerun(cmd_args) == 0


@pytest.mark.slow
def test_pam_killed_and_resumed_equals_uninterrupted(eval_run, tmp_path):
    base = [str(eval_run / "runs"), "--metric", "dpam", "--quiet"]
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert _eval(["pam", *base, "--out", str(ref), "--no-cache"]) == 0
    journal = out / "r"
    args = ["pam", *base, "--out", str(out), "--no-cache"]
    _interrupted_then_resumed(args, "s2w_eval.cli", out, lambda k: lambda: _lines(journal) >= k, "pam", _eval)
    assert_same_outputs(ref, out)


@pytest.mark.slow
def test_chords_killed_and_resumed_equals_uninterrupted(tmp_path):
    make_run(tmp_path / "runs" / "r", {"s0": "negative", "s1": "positive"}, seconds=0.4)  # 6 clips
    ref, out = tmp_path / "ref", tmp_path / "out"
    assert _eval(["chords", str(tmp_path / "runs"), "--out", str(ref), "-q"]) == 0
    journal = out / "r"
    args = ["chords", str(tmp_path / "runs"), "--out", str(out), "-q"]
    _interrupted_then_resumed(
        args, "s2w_eval.cli", out, lambda k: lambda: _lines(journal) >= k, "chords", _eval
    )
    assert_same_outputs(ref, out)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from .test_data_prepare import make_movie

    root = tmp_path_factory.mktemp("fi-src")
    for i, name in enumerate(("M1", "M2", "M3")):
        make_movie(root / name, seconds=9.5, valence=lambda t, i=i: 0.4 if (i + int(t // 3)) % 2 else -0.4)
    return root


@pytest.mark.slow
def test_prepare_killed_and_resumed_equals_uninterrupted(source, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    base = ["data", "prepare", str(source), "--quiet", "--split", "M3"]
    assert _models([*base, "--out", str(ref)]) == 0
    args = [*base, "--out", str(out)]

    def ready(k):  # k movies' shards committed (their reuse markers written)
        return lambda: len(list((out / "shards").glob("*.json"))) >= min(k, 2)

    _interrupted_then_resumed(args, "s2w_models.cli", out, ready, "prepare", _models)
    assert_same_outputs(ref, out)


@pytest.mark.slow
def test_train_killed_and_resumed_equals_uninterrupted(source, tmp_path):
    data = tmp_path / "data"
    assert _models(["data", "prepare", str(source), "--quiet", "--split", "M3", "--out", str(data)]) == 0
    ref, out = tmp_path / "ref", tmp_path / "out"
    base = ["train", "cnn", "--data", str(data), "--no-progress", "--set", "train.ckpt_every=2"]
    base += [
        "--set",
        "train.cnn.epochs=4",
        "--set",
        "train.cnn.patience=0",
        "--set",
        "train.cnn.batch_size=1",
    ]
    assert _models([*base, "--out", str(ref)]) == 0
    steps = out / "cnn" / "steps.csv"
    args = [*base, "--out", str(out), "--resume"]
    ready = lambda k: lambda: steps.exists() and len(steps.read_text().splitlines()) >= 2 * k + 1  # noqa: E731
    _interrupted_then_resumed(args, "s2w_models.cli", out, ready, "train", _models)
    assert_same_outputs(ref, out)


@pytest.mark.slow
def test_generate_killed_and_resumed_equals_uninterrupted(tmp_path):
    import torch

    from s2w_models.checkpoint import save_checkpoint
    from s2w_models.nets import build_model

    from .test_generate import _tiny_config, make_dataset

    data = make_dataset(tmp_path / "data")
    torch.manual_seed(0)
    cks = []
    for kind in ("scene2wav", "baseline"):
        cks += [
            "--checkpoint",
            str(save_checkpoint(tmp_path / f"{kind}.pt", build_model(kind, _tiny_config()), _tiny_config())),
        ]
    ref, out = tmp_path / "ref", tmp_path / "out"
    base = ["generate", *cks, "--data", str(data), "--n", "2", "--seed", "3", "--batch-size", "1", "--quiet"]
    assert _models([*base, "--out", str(ref)]) == 0

    def ready(k):
        return lambda: sum(len(list(out.glob(f"{m}/*.wav"))) for m in ("scene2wav", "baseline")) >= k

    _interrupted_then_resumed([*base, "--out", str(out)], "s2w_models.cli", out, ready, "generate", _models)
    assert_same_outputs(ref, out)
