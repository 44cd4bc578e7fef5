"""Shared fixtures: the real data folder, small generated runs, one CDPAM model per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: the real test data (published Scene2Wav samples with the paper's values, COGNIMUSE annotation files, the
#: perceptual metrics' reference clips): $S2W_TEST_DATA, else a `shared/data` folder beside the checkout
TEST_DATA = Path(os.environ.get("S2W_TEST_DATA") or REPO.parent / "shared" / "data")
NO_DATA = "set S2W_TEST_DATA to the real test data folder (a fresh clone has none)"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not TEST_DATA.is_dir():
        pytest.skip(f"real test data not found at {TEST_DATA}: {NO_DATA}")
    return TEST_DATA


#: how the tests start Debian's Chromium as root on a machine without a display or outside network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture()
def chromium():
    """(playwright.sync_api, launch kwargs) for headless Chromium; skips with the reason when either is absent."""
    import shutil

    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.skip(f"Debian's chromium is not installed at {path} (apt-get install chromium; .ci/run does)")
    return sync_api, {"executable_path": path, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One embedding cache for the whole session: identical clips are embedded once across tests."""
    return tmp_path_factory.mktemp("s2w-cache")


@pytest.fixture(scope="session")
def cdpam_metric():
    from s2w_eval.features.cdpam import CDPAMMetric

    return CDPAMMetric()


def tone(freq: float, seconds: float, sr: int = 16000, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """A decaying harmonic tone with a little noise: deterministic for (freq, seconds, sr, seed)."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    x = sum((0.5 / k) * np.sin(2 * np.pi * freq * k * t) for k in (1, 2, 3)) * np.exp(-1.5 * t)
    x = x + noise * rng.standard_normal(t.size)
    return (0.8 * x / np.max(np.abs(x))).astype(np.float32)


def make_run(
    root: Path,
    samples: dict[str, str],
    conditions=("target", "baseline", "scene2wav"),
    seconds: float = 0.5,
    sr: int = 16000,
) -> Path:
    """A run in the layout of docs/generation.md with a distinct tone per (condition, sample)."""
    from s2w_eval.io.audio import write_wav

    root.mkdir(parents=True, exist_ok=True)
    lines = ["sample,emotion"] + [f"{s},{e}" for s, e in samples.items()]
    (root / "samples.csv").write_text("\n".join(lines) + "\n")
    for ci, cond in enumerate(conditions):
        for si, s in enumerate(samples):
            write_wav(
                root / cond / f"{s}.wav",
                tone(220.0 * (1 + 0.25 * si) * (1 + 0.07 * ci), seconds, sr, seed=10 * si + ci),
                sr,
            )
    return root
