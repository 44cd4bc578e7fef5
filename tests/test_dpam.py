"""DPAM re-implemented in PyTorch: the authors' reference value, the paper's Table 3, loaders, errors."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from s2w_eval.errors import DataError, UsageError

from .conftest import NO_DATA, TEST_DATA

SHARED_DATA = TEST_DATA
TABLE3_TOLERANCE = 0.03


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """These tests check values, not speed: one intra-op thread keeps their runtime steady on a loaded 2-core
    machine (OpenMP threads spinning against other processes made them 5-10x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dpam():
    from s2w_eval.features.dpam import DPAMMetric

    try:
        return {loader: DPAMMetric("scratch", loader) for loader in ("modern", "paper2020")}
    except DataError as exc:
        pytest.skip(f"DPAM weights not available: {exc}")


@pytest.fixture(scope="module")
def reference_clips():
    folder = SHARED_DATA / "cdpam-reference"
    if not folder.is_dir():
        pytest.skip(f"the metric authors' reference clips are not at {folder} ({NO_DATA})")
    return folder


def _noise(n, seed, scale=3000.0):
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


# ------------------------------------------------------------------------------ the authors' reference values
@pytest.mark.parametrize(
    "checkpoint,expected", [("scratch", 0.1929), ("finetune", 0.1962), ("linear", 0.0478)]
)
def test_reference_pair_modern_loader(dpam, reference_clips, checkpoint, expected):
    from s2w_eval.features.dpam import DPAMMetric

    metric = dpam["modern"] if checkpoint == "scratch" else DPAMMetric(checkpoint, "modern")
    ref = metric.load(reference_clips / "ref.wav")
    out = metric.load(reference_clips / "2.wav")
    assert ref.dtype == np.float32 and ref.ndim == 1 and ref.size == 55125
    assert np.array_equal(ref, np.round(ref))  # x 32768, rounded
    d = metric.pair_distance(out, ref)
    assert d == pytest.approx(expected, abs=1e-3)
    assert metric.pair_distance(ref, out) == pytest.approx(d, rel=1e-6)  # symmetric
    assert metric.pair_distance(ref, ref) == 0.0
    assert metric.name == f"dpam-{checkpoint}/modern"


def test_identity_symmetry_and_batching(dpam):
    metric = dpam["modern"]
    a, b, c = _noise(4000, 1), _noise(4000, 2), _noise(3001, 3)
    assert metric.pair_distance(a, a) == 0.0
    assert metric.pair_distance(a, b) > 0
    assert metric.pair_distance(a, b) == pytest.approx(metric.pair_distance(b, a), rel=1e-6)
    pairs = [(a, b), (b, a), (a, c), (c, b), (a, a)]
    batched = metric.pair_distances(pairs)
    single = [metric.pair_distance(x, y) for x, y in pairs]
    assert batched == pytest.approx(single, rel=1e-5)
    assert batched[-1] == 0.0


def test_shorter_clip_is_zero_padded_at_the_start(dpam):
    metric = dpam["modern"]
    a, short = _noise(4000, 4), _noise(3000, 5)
    d = metric.pair_distance(a, short)
    assert d == pytest.approx(metric.pair_distance(a, np.pad(short, (1000, 0))), rel=1e-6)
    assert d != pytest.approx(metric.pair_distance(a, np.pad(short, (0, 1000))), rel=1e-3)


def _reference_distance(weights, a, b):
    """A plain float64 numpy transcription of docs/dpam.md's definition, to check the optimised network."""

    def features(x):
        h = x[None, :].astype(np.float64)  # [C, T]
        feats = []
        for i in range(14):
            stride = 2 if i < 13 else 1
            length = h.shape[1]
            out = -(-length // stride)
            total = max((out - 1) * stride + 3 - length, 0)
            h = np.pad(h, ((0, 0), (total // 2, total - total // 2)))
            w = weights["conv"][i][0].astype(np.float64)  # [3, Cin, Cout]
            y = sum(
                np.einsum("ct,co->ot", h[:, k : k + stride * (out - 1) + 1 : stride], w[k]) for k in range(3)
            )
            y = (y - y.mean(axis=1, keepdims=True)) / np.sqrt(y.var(axis=1, keepdims=True) + 0.001)
            y = y + weights["beta"][i][:, None]
            h = np.maximum(0.2 * y, y)
            feats.append(h)
        return feats

    return sum(
        np.mean(np.abs(weights["dist"][i][:, None] * (fa - fb)))
        for i, (fa, fb) in enumerate(zip(features(a), features(b)))
    )


def test_network_matches_a_plain_transcription_of_the_definition(dpam):
    from s2w_eval.features.dpam import read_weights

    metric = dpam["paper2020"]
    weights = read_weights(metric.prefix)
    for n in (2048, 1999):  # even and odd lengths: 'SAME' padding's extra sample goes right
        a, b = _noise(n, 10 + n), _noise(n, 20 + n)
        assert metric.pair_distance(a, b) == pytest.approx(_reference_distance(weights, a, b), rel=1e-4)


# ------------------------------------------------------------------------------ loaders
def test_paper2020_loader_reads_the_file_as_stored(dpam, tmp_path):
    metric = dpam["paper2020"]
    assert metric.sample_rate is None and metric.loader == "paper2020"
    stereo = np.array([[1, -2], [3, -4], [5, -6]], dtype=np.int16)
    wavfile.write(tmp_path / "s.wav", 44100, stereo)
    x = metric.load(tmp_path / "s.wav")
    assert x.dtype == np.float32
    assert x.tolist() == [1, -2, 3, -4, 5, -6]  # interleaved, no rescaling, no resampling
    mono = np.array([0.25, -0.5, 0.125], dtype=np.float32)
    wavfile.write(tmp_path / "f.wav", 16000, mono)
    assert metric.load(tmp_path / "f.wav").tolist() == mono.tolist()  # float WAVs stay in [-1, 1]


def test_modern_loader_is_22050_mono_scaled_and_rounded(dpam, tmp_path):
    metric = dpam["modern"]
    assert metric.sample_rate == 22050
    t = np.arange(22050) / 22050
    left = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    right = (0.25 * np.sin(2 * np.pi * 660 * t) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "s.wav", 22050, np.stack([left, right], axis=1))
    x = metric.load(tmp_path / "s.wav")
    expected = np.round((left.astype(np.float64) + right) / 2 / 32768 * 32768)
    assert x.shape == (22050,)
    assert np.max(np.abs(x - expected)) <= 1
    wavfile.write(tmp_path / "r.wav", 44100, np.repeat(left, 2))
    assert metric.load(tmp_path / "r.wav").shape == (22050,)  # resampled to 22050 Hz


def test_bad_files_are_named(dpam, tmp_path):
    metric = dpam["paper2020"]
    wavfile.write(tmp_path / "silent.wav", 16000, np.zeros(100, dtype=np.int16))
    with pytest.raises(DataError, match="all zeros") as err:
        metric.load(tmp_path / "silent.wav")
    assert err.value.path == str(tmp_path / "silent.wav")
    wavfile.write(tmp_path / "nan.wav", 16000, np.array([0.1, np.nan], dtype=np.float32))
    with pytest.raises(DataError, match="NaN"):
        metric.load(tmp_path / "nan.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(DataError, match="paper2020 loader") as err:
        metric.load(tmp_path / "text.wav")
    assert "modern" in err.value.fix
    with pytest.raises(DataError, match="not found"):
        metric.load(tmp_path / "absent.wav")
    with pytest.raises(UsageError, match="1-D"):
        metric.pair_distance(np.ones((2, 10), np.float32), np.ones(10, np.float32))


# ------------------------------------------------------------------------------ construction, provenance
def test_describe_and_identity(dpam):
    from s2w_eval.features.base import PerceptualMetric

    metric = dpam["paper2020"]
    assert isinstance(metric, PerceptualMetric) and metric.embeds is False
    info = metric.describe()
    assert info["package_version"] == "0.0.4"
    assert info["checkpoint"] == "scratch" and info["loader"] == "paper2020"
    assert info["padding"] == "shorter zero-padded at the start"
    digest = hashlib.sha256(Path(info["weights_file"]).read_bytes()).hexdigest()
    assert info["weights_sha256"] == metric.weights_sha256 == digest
    assert metric.name == "dpam-scratch/paper2020"


def test_unknown_names_and_missing_package(monkeypatch):
    import importlib.util

    from s2w_eval.features.dpam import DPAMMetric

    with pytest.raises(UsageError, match="unknown DPAM checkpoint 'pretrained'"):
        DPAMMetric("pretrained")
    with pytest.raises(UsageError, match="unknown DPAM loader 'librosa'"):
        DPAMMetric("scratch", "librosa")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "dpam" else real(name, *a)
    )
    with pytest.raises(DataError, match="not installed") as err:
        DPAMMetric("scratch")
    assert "pip install dpam==0.0.4" in err.value.fix


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="no CUDA device")
def test_cuda_matches_cpu(dpam):
    from s2w_eval.features.dpam import DPAMMetric

    gpu = DPAMMetric("scratch", "modern", device="cuda")
    pairs = [(_noise(6000, 30), _noise(6000, 31)), (_noise(5000, 32), _noise(6000, 33))]
    assert gpu.pair_distances(pairs) == pytest.approx(dpam["modern"].pair_distances(pairs), rel=1e-4)


# ------------------------------------------------------------------------------ the paper's Table 3
def _paper_table3():
    root = SHARED_DATA / "scene2wav-samples"
    if not (root / "cognimuse-3s").is_dir():
        pytest.skip(f"the published Scene2Wav samples are not at {root} ({NO_DATA})")
    with open(root / "paper_reference.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["protocol"] == "cognimuse-3s"]
    return root / "cognimuse-3s", rows


def check_table3(values: dict[tuple[str, str], float], rows) -> None:
    """Every value within TABLE3_TOLERANCE of the paper, and the same better model for every sample."""
    assert len(rows) == 10
    errors = []
    for r in rows:
        ours_b, ours_s = values[(r["sample"], "baseline")], values[(r["sample"], "scene2wav")]
        paper_b, paper_s = float(r["pam_baseline"]), float(r["pam_scene2wav"])
        assert ours_b == pytest.approx(paper_b, abs=TABLE3_TOLERANCE), r["sample"]
        assert ours_s == pytest.approx(paper_s, abs=TABLE3_TOLERANCE), r["sample"]
        assert (ours_s < ours_b) == (paper_s < paper_b), f"{r['sample']}: better model differs from the paper"
        errors += [abs(ours_b - paper_b), abs(ours_s - paper_s)]
    assert np.mean(errors) < 0.01  # the doc's measured mean error is about 0.004


def test_paper_table3_reproduced_paper2020_loader(dpam):
    root, rows = _paper_table3()
    metric = dpam["paper2020"]
    keys, pairs = [], []
    for r in rows:
        target = metric.load(root / "target" / f"{r['sample']}.wav")
        for condition in ("baseline", "scene2wav"):
            keys.append((r["sample"], condition))
            pairs.append((metric.load(root / condition / f"{r['sample']}.wav"), target))
    check_table3(dict(zip(keys, metric.pair_distances(pairs))), rows)


def test_paper_table3_through_the_cli(tmp_path, capsys):
    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main

    root, rows = _paper_table3()
    args = ["pam", str(root), "--metric", "dpam", "--dpam-loader", "paper2020"]
    code = run_main(cli, [*args, "--out", str(tmp_path), "--quiet", "--no-cache"])
    assert code == 0, capsys.readouterr().err
    with open(tmp_path / root.name / "pam.csv", newline="") as fh:
        scored = list(csv.DictReader(fh))
    assert {r["metric"] for r in scored} == {"dpam-scratch/paper2020"}
    assert {r["loader"] for r in scored} == {"paper2020"}
    assert len(scored) == 20
    check_table3({(r["sample"], r["condition"]): float(r["distance"]) for r in scored}, rows)
    assert "dpam-scratch/paper2020" in capsys.readouterr().out  # the Table 3-shaped console output
