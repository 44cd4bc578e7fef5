"""Every example command line of README.md and docs/*.md runs, for real, on small fixtures (so that none rots).

The lines are those tests/test_docs_commands.py checks (tests/doc_commands.py reads them: the `s2w-eval` /
`s2w-models` lines of the fenced shell blocks, continuations joined). Each line is one of three kinds:

- **a usage synopsis**, excluded by rule: outside its quoted strings and before its ` #` comment, the line holds
  a `[`, a `]` or a `|` (optional parts `[--raters N]`, alternatives `--sandbox|--live`, `paper|tiny`). Such a
  line documents syntax, not an example; test_docs_commands checks that its command and options exist;
- **NOT_RUN**: an example that cannot run on a CI machine (no GPU, no network, no credentials, a 15-minute
  budget for the whole suite), with the reason. Every entry must still be a documented line;
- **run**: every other line. It runs in-process (`s2w_eval.clikit.run_main`), as the shell would split it,
  with `--quiet` added when the command has that option and the line does not give it, in one temporary
  working folder shared by the whole module, and must exit with the code the example implies (`EXIT_CODE`,
  else 0) and leave the files it documents (`OUTPUTS`) / print what it documents (`PRINTS`).

Tables are keyed by (file, the line's words joined by one space, its comment dropped). Placeholders: a run
line's words are replaced by `SUBSTITUTE` (word -> words); every entry must be used, and no placeholder-like
word (`FILE`, `DIR`, `...`) may remain. Paths the docs spell out (`runs/`, `runs/my-run`, `survey1`,
`data/cognimuse-3s`, `participant_ratings.csv`, ...) are real paths of the working folder, made once per module
by `workspace`:

- `runs/my-run`: `make_run`'s tones, 3 s at 16 kHz, samples P1 (positive) and N1 (negative), conditions
  target, baseline, scene2wav; `runs/` holds it (and, once generation.md's example ran, `runs/gen/...`);
- `data/cognimuse-3s`: a prepared dataset of two 3 s clips (2 fps), my-run's targets: P1 the one test scene, N1
  a training scene; the generated run's target is then byte-identical to my-run's P1 and embedded once;
- `runs/train/{scene2wav,baseline}/best.pt`: untrained tiny-preset checkpoints sized for those clips;
- `participant_ratings.csv` (DEAP's format: 4 participants x 2 videos, video 2 rated negative) and
  `highlights/{1,2}.mp4` (12 s each: 3 test + 1 training splice).

An example that reads what another example writes names it in `NEEDS` (it runs first, once); a file that a
NOT_RUN example would have made is made by a function named there (`survey fetch`'s results by
`survey simulate`; Prolific's export and the collected responses from a simulated crowd). Embeddings go to
the session's `cache_dir` ($S2W_CACHE_DIR).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from s2w_eval.clikit import run_main
from tests.conftest import REPO, make_run
from tests.doc_commands import EXAMPLES, GROUPS, resolve, unquoted

Key = tuple[str, str]  # (file relative to the repository, the command's words joined by one space)


def key_of(path: Path, line: str) -> Key:
    return path.relative_to(REPO).as_posix(), " ".join(shlex.split(line, comments=True))


def is_synopsis(line: str) -> bool:
    return bool(re.search(r"[\[\]|]", unquoted(line)))


LINES: dict[Key, tuple[int, str]] = {key_of(p, line): (n, line) for p, n, line in EXAMPLES}

NOT_RUN: dict[Key, str] = {
    ("docs/survey.md", "s2w-eval survey publish survey1"): (
        "MTurk's API (sandbox): boto3, AWS credentials, network; tests/test_survey_mturk.py runs publish "
        "against botocore's Stubber"
    ),
    ("docs/survey.md", "s2w-eval survey fetch survey1"): (
        "MTurk's API (sandbox): credentials, network; tests/test_survey_mturk.py runs fetch against botocore's "
        "Stubber. Its survey1/mturk_results.csv is made here by `survey simulate` for the aggregate example"
    ),
    ("docs/survey.md", "s2w-eval survey publish survey1 --live"): (
        "the live MTurk site: real workers, real money (after a confirmation prompt); tests/test_survey_mturk.py "
        "checks that --live asks first and that declining makes no client"
    ),
    (
        "docs/survey.md",
        "s2w-eval survey review survey1/aggregate/approvals.csv --bonuses survey1/aggregate/bonuses.csv "
        "--block survey1/aggregate/blocklist.csv",
    ): (
        "MTurk's API (approve, reject, pay bonuses, block): credentials, network; tests/test_survey_mturk.py "
        "runs review against botocore's Stubber. The three files it reads are checked after the aggregate "
        "example that writes them"
    ),
}

SUBSTITUTE: dict[str, list[str]] = {
    # docs/protocols.md `protocol validate FILE_OR_NAME...`: a protocol file and a protocol name
    "FILE_OR_NAME...": [str(REPO / "protocols" / "cognimuse-3s.yaml"), "quickstart"],
}

#: expected exit codes of examples that demonstrate an error (none does today); every other run exits 0
EXIT_CODE: dict[Key, int] = {}

_BUILD = (
    "docs/survey.md",
    "s2w-eval survey build runs/my-run --base-url https://my-host.example.org/survey1/ --out survey1",
)
_GENERATE = (
    "docs/generation.md",
    "s2w-models generate --checkpoint runs/train/scene2wav/best.pt --checkpoint runs/train/baseline/best.pt "
    "--data data/cognimuse-3s --out runs/gen/cognimuse-3s --protocol cognimuse-3s --n 20 --seed 0",
)
_AGGREGATE_MTURK = (
    "docs/survey.md",
    "s2w-eval survey aggregate survey1/mturk_results.csv --key survey1/answer_key.csv --bonus 0.20",
)
_AGGREGATE_PROLIFIC = (
    "docs/survey.md",
    "s2w-eval survey aggregate responses.csv --key survey1/answer_key.csv --prolific-export prolific_export.csv",
)
_PAM = ["reports/my-run/pam.csv", "reports/my-run/pam.json"]
_CHORDS = ("docs/chords.md", "s2w-eval chords runs/my-run --method nnls-hmm")

OUTPUTS: dict[Key, list[str]] = {
    (
        "docs/data.md",
        "s2w-models data deap participant_ratings.csv highlights/ --out deap-3s",
    ): ["deap-3s/samples.csv", "deap-3s/dataset.json", "deap-3s/shards/deap01.audio.npy"],
    (
        "docs/data.md",
        "s2w-models data deap participant_ratings.csv highlights/ --out deap-paper --group-by trial --overlap "
        "--val-fraction 0",
    ): ["deap-paper/samples.csv", "deap-paper/dataset.json"],
    ("docs/dpam.md", "s2w-eval pam runs/ --metric dpam --dpam-loader paper2020"): _PAM,
    ("docs/dpam.md", "s2w-eval pam runs/ --metric cdpam,dpam"): _PAM,
    ("docs/dpam.md", "s2w-eval pam runs/ --metric dpam-finetune,dpam-linear"): _PAM,
    _GENERATE: [
        "runs/gen/cognimuse-3s/samples.csv",
        "runs/gen/cognimuse-3s/generation.json",
        "runs/gen/cognimuse-3s/scene2wav/M1_00000.wav",
        "runs/gen/cognimuse-3s/baseline/M1_00000.json",
        "runs/gen/cognimuse-3s/scenes/target/M1_00000.mp4",
    ],
    ("docs/generation.md", "s2w-eval pam runs/gen/cognimuse-3s"): [
        "reports/cognimuse-3s/pam.csv",
        "reports/cognimuse-3s/pam.json",
    ],
    _BUILD: [
        f"survey1/{f}" for f in ("layout.html", "hit.html", "batch.csv", "answer_key.csv", "manifest.json")
    ],
    (
        "docs/survey.md",
        "s2w-eval survey prolific survey1 --code C0DE1234 --submit-url https://my-host.example.org/collect",
    ): ["survey1/prolific/index.html"],
    _AGGREGATE_PROLIFIC: ["aggregate/survey.json", "aggregate/assignments.csv"],  # beside responses.csv
    _AGGREGATE_MTURK: [f"survey1/aggregate/{f}" for f in ("approvals.csv", "bonuses.csv", "blocklist.csv")],
    _CHORDS: ["reports/my-run/chords.csv", "reports/my-run/chords.json"],
    ("docs/dist.md", "s2w-eval dist runs/my-run --embedding dpam --metric kad --resamples 200"): [
        "reports/my-run/dist.csv",
        "reports/my-run/dist.json",
    ],
    ("docs/calibrate.md", "s2w-eval calibrate runs/my-run --metric dpam,chords"): [
        "reports/my-run/calibrate.json",
        "reports/my-run/calibrate.png",
    ],
    ("docs/reports.md", "s2w-eval report reports/my-run"): [
        f"reports/my-run/report.{ext}" for ext in ("html", "md", "tex", "json")
    ],
}

PRINTS: dict[Key, list[str]] = {
    ("docs/data.md", "s2w-models data labels participant_ratings.csv --group-by trial --overlap"): [
        "total positive"
    ],
    ("docs/dpam.md", "s2w-eval pam runs/ --metric dpam --dpam-loader paper2020"): ["dpam-scratch/paper2020"],
    ("docs/dpam.md", "s2w-eval pam runs/ --metric dpam-finetune,dpam-linear"): [
        "dpam-finetune",
        "dpam-linear",
    ],
    ("docs/protocols.md", "s2w-eval protocol list"): ["cognimuse-3s", "cognimuse-10s", "quickstart"],
}


# ------------------------------------------------------------------------------ files NOT_RUN examples make
def mturk_results(ws: Workspace) -> None:
    """survey1/mturk_results.csv, what `survey fetch survey1` (NOT_RUN) writes: a simulated crowd."""
    ws.main("s2w-eval survey simulate survey1 --prefer 'scene2wav>baseline:0.8' -o survey1/mturk_results.csv")


def prolific_files(ws: Workspace) -> None:
    """responses.csv (what the study's endpoint stored) and prolific_export.csv (Prolific's export).

    A simulated crowd in MTurk's format, one task per participant (as index.html assigns them), mapped to the
    columns docs/survey.md lists: PROLIFIC_PID, STUDY_ID, SESSION_ID, task_id, batch and the answer fields."""
    ws.main(
        "s2w-eval survey simulate survey1 --prefer 'scene2wav>baseline:0.7' --seed 1 -o prolific-crowd.csv"
    )
    with open(ws.root / "prolific-crowd.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    tasks = sorted({r["Input.task_id"] for r in rows})
    workers = list(dict.fromkeys(r["WorkerId"] for r in rows))
    chosen = [
        next(r for r in rows if r["WorkerId"] == w and r["Input.task_id"] == tasks[i % len(tasks)])
        for i, w in enumerate(workers)
    ]
    responses = [
        {
            "PROLIFIC_PID": r["WorkerId"],
            "STUDY_ID": "STUDY1",
            "SESSION_ID": r["AssignmentId"],
            "task_id": r["Input.task_id"],
            "batch": r["Input.batch"],
            **{k.removeprefix("Answer."): v for k, v in r.items() if k.startswith("Answer.")},
        }
        for r in chosen
    ]
    export = [
        {
            "Submission id": r["AssignmentId"],
            "Participant id": r["WorkerId"],
            "Status": "AWAITING REVIEW",
            "Started at": r["AcceptTime"],
            "Completed at": r["SubmitTime"],
            "Time taken": r["WorkTimeInSeconds"],
        }
        for r in chosen
    ]
    for name, table in (("responses.csv", responses), ("prolific_export.csv", export)):
        with open(ws.root / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(table[0]))
            w.writeheader()
            w.writerows(table)


NEEDS: dict[Key, list[Key | Callable[[Workspace], None]]] = {
    ("docs/generation.md", "s2w-eval pam runs/gen/cognimuse-3s"): [_GENERATE],
    (
        "docs/survey.md",
        "s2w-eval survey prolific survey1 --code C0DE1234 --submit-url https://my-host.example.org/collect",
    ): [_BUILD],
    _AGGREGATE_PROLIFIC: [_BUILD, prolific_files],
    _AGGREGATE_MTURK: [_BUILD, mturk_results],
    ("docs/reports.md", "s2w-eval report reports/my-run"): [_CHORDS],
}


# ----------------------------------------------------------------------------------------------- running
#: a word that is still a placeholder: DIR, RESULTS.csv, DIR/answer_key.csv, FILE.npz..., https://...
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]+(\.[a-z]+)?$|(^|/)[A-Z][A-Z_]+/|\.\.\.")


def argv_of(line: str) -> list[str]:
    """The words run for one documented line: substituted, `--quiet` added where the command has it."""
    words = [w for word in shlex.split(line, comments=True) for w in SUBSTITUTE.get(word, [word])]
    _, cmd, _ = resolve(shlex.join(words))
    has_quiet = any(isinstance(p, click.Option) and "--quiet" in p.opts for p in cmd.params)
    if has_quiet and not {"-q", "--quiet"} & set(words):
        words.append("--quiet")
    return words


@dataclass
class Outcome:
    argv: list[str]
    code: int
    output: str


class Workspace:
    """The module's working folder; runs each documented example once, its NEEDS first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[Key, Outcome] = {}
        self.made: set[str] = set()

    def _main(self, argv: list[str]) -> Outcome:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            code = run_main(GROUPS[argv[0]], argv[1:])
        return Outcome(argv, code, buf.getvalue())

    def main(self, line: str) -> None:
        """Run a helper command line of a fixture step; it must succeed."""
        out = self._main(shlex.split(line))
        assert out.code == 0, f"fixture step failed ({out.code}): {line}\n{out.output[-3000:]}"

    def run(self, key: Key) -> Outcome:
        if key not in self.done:
            for need in NEEDS.get(key, []):
                if not callable(need):
                    dep = self.run(need)
                    assert dep.code == EXIT_CODE.get(need, 0), f"needed example {need[1]!r} exited {dep.code}"
                elif need.__name__ not in self.made:
                    need(self)
                    self.made.add(need.__name__)
            self.done[key] = self._main(argv_of(LINES[key][1]))
        return self.done[key]


# ---------------------------------------------------------------------------------------------- fixtures
SR, FPS, SECONDS = 16000, 2, 3.0


def _dataset(root: Path, run: Path) -> None:
    """A prepared dataset (SpliceDataset's contract) of two 3 s clips, my-run's targets: P1 test, N1 train.

    The generated run's target is then byte-identical to my-run's target/P1.wav: CDPAM (2-8 s per 3 s clip on
    a loaded 2-core machine) embeds it once."""
    import numpy as np
    import pandas as pd
    import soundfile as sf

    from s2w_eval.results import atomic_write_json

    clips = [("positive", "test"), ("negative", "train")]
    audio = np.stack([sf.read(run / "target" / f"{s}.wav", dtype="int16")[0] for s in ("P1", "N1")])
    frames = np.random.default_rng(0).integers(
        0, 256, (len(clips), int(SECONDS * FPS), 3, 100, 100), np.uint8
    )
    (root / "shards").mkdir(parents=True)
    np.save(root / "shards" / "M1.frames.npy", frames)
    np.save(root / "shards" / "M1.audio.npy", audio)
    rows = [
        {
            "sample": f"M1_{i:05d}",
            "movie": "M1",
            "start_s": SECONDS * i,
            "valence": 0.5 if emotion == "positive" else -0.5,
            "arousal": 0.0,
            "emotion": emotion,
            "split": split,
            "shard": "M1",
            "row": i,
        }
        for i, (emotion, split) in enumerate(clips)
    ]
    pd.DataFrame(rows).to_csv(root / "samples.csv", index=False)
    meta = {"seconds": SECONDS, "fps": FPS, "frames_per_clip": frames.shape[1], "frame_size": [100, 100]}
    meta.update(color="hsv", sample_rate=SR, audio_len=audio.shape[1])
    atomic_write_json(root / "dataset.json", meta)


def _checkpoints(train: Path) -> None:
    """Untrained tiny-preset scene2wav and baseline checkpoints for the dataset's 3 s clips."""
    import torch

    from s2w_models import config as C
    from s2w_models.checkpoint import save_checkpoint
    from s2w_models.nets import build_model

    frames, samples = int(SECONDS * FPS), int(SECONDS * SR)
    data = {"seconds": SECONDS, "fps": FPS, "frames_per_clip": frames, "audio_len": samples}
    cfg = C.apply_overrides(C.tiny(), [f"data.{k}={v}" for k, v in data.items()])
    torch.manual_seed(0)
    for kind in ("scene2wav", "baseline"):
        (train / kind).mkdir(parents=True)
        save_checkpoint(train / kind / "best.pt", build_model(kind, cfg), cfg, {"stage": kind})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    import pandas as pd

    from tests.test_data_deap import make_video, write_ratings

    root = tmp_path_factory.mktemp("docs-examples")
    run = make_run(root / "runs" / "my-run", {"P1": "positive", "N1": "negative"}, seconds=SECONDS, sr=SR)
    _dataset(root / "data" / "cognimuse-3s", run)
    _checkpoints(root / "runs" / "train")
    ratings = write_ratings(root / "participant_ratings.csv", participants=4, videos=2)
    table = pd.read_csv(ratings)  # video 2 rated negative: the two groupings then label differently
    table.loc[table.Experiment_id == 2, "Valence"] = 3.0
    table.to_csv(ratings, index=False)
    (root / "highlights").mkdir()
    make_video(root / "highlights" / "1.mp4", 12.0, (220, 30, 30))  # 4 splices of 3 s: 3 test + 1 train
    make_video(root / "highlights" / "2.mp4", 12.0, (30, 30, 220))
    return Workspace(root)


# ------------------------------------------------------------------------------------------------- tests
RUN = [k for k, (_, line) in LINES.items() if not is_synopsis(line) and k not in NOT_RUN]


def test_every_documented_line_is_run_excluded_by_rule_or_not_run_for_a_reason():
    assert len(LINES) == len(EXAMPLES), "two documented lines of one file have the same command"
    synopses = [k for k, (_, line) in LINES.items() if is_synopsis(line)]
    stale = [k for k in NOT_RUN if k not in LINES]
    assert not stale, f"NOT_RUN names lines the docs no longer have: {stale}"
    assert set(RUN) | set(synopses) | set(NOT_RUN) == set(LINES)
    assert not set(NOT_RUN) & set(synopses), "a synopsis is excluded by rule already"
    assert all(reason.strip() for reason in NOT_RUN.values())
    for table in (EXIT_CODE, OUTPUTS, PRINTS, NEEDS):
        stale = [k for k in table if k not in RUN]
        assert not stale, f"a table names lines that are not run (or no longer documented): {stale}"
    needed = [n for needs in NEEDS.values() for n in needs if not callable(n)]
    assert set(needed) <= set(RUN)
    # the substitutions are all used, and no placeholder is left in what runs
    words = [w for k in RUN for w in shlex.split(LINES[k][1], comments=True)]
    assert set(SUBSTITUTE) <= set(words), f"unused substitutions: {set(SUBSTITUTE) - set(words)}"
    left = {k[1]: w for k in RUN for w in argv_of(LINES[k][1]) if PLACEHOLDER.search(w)}
    assert not left, f"placeholders left in run lines: {left}"
    assert len(RUN) > len(NOT_RUN)


def test_the_synopsis_rule():
    assert is_synopsis("s2w-eval survey fetch DIR [--sandbox|--live] [-o RESULTS.csv] [-q]")
    assert is_synopsis("s2w-models describe --preset paper|tiny")
    assert not is_synopsis("s2w-eval survey simulate survey1 --prefer 'scene2wav>baseline:0.8'")
    assert not is_synopsis("s2w-eval survey simulate survey1 --prefer 'a|b'  # see [docs]")
    assert not is_synopsis("s2w-eval protocol validate FILE_OR_NAME...  # every problem listed")


@pytest.mark.slow
@pytest.mark.parametrize("key", RUN, ids=[f"{k[0]}:{LINES[k][0]}" for k in RUN])
def test_documented_example_runs(key, workspace, cache_dir, monkeypatch):
    monkeypatch.chdir(workspace.root)
    monkeypatch.setenv("S2W_CACHE_DIR", str(cache_dir))
    where = f"{key[0]}:{LINES[key][0]}"
    out = workspace.run(key)
    want = EXIT_CODE.get(key, 0)
    assert out.code == want, (
        f"{where}: exit {out.code}, expected {want}\n$ {shlex.join(out.argv)}\n{out.output[-4000:]}"
    )
    missing = [f for f in OUTPUTS.get(key, []) if not (workspace.root / f).exists()]
    assert not missing, f"{where}: documented outputs missing after the run: {missing}"
    absent = [text for text in PRINTS.get(key, []) if text not in out.output]
    assert not absent, f"{where}: the output does not show {absent}\n{out.output[-4000:]}"
