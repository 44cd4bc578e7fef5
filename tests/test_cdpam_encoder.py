"""CDPAM's encoder as s2w runs it: stride-2 decimating layers, the arithmetic count, precision choices."""

from __future__ import annotations

import numpy as np
import pytest

from s2w_eval.errors import DataError, UsageError


@pytest.mark.parametrize("n", [4001, 4002, 4003, 4004])  # every parity of length at every decimation
def test_strided_encoder_equals_package_forward(cdpam_metric, n):
    import torch

    from s2w_eval.features.cdpam import encode

    rng = np.random.default_rng(n)
    x = torch.from_numpy((3000 * rng.standard_normal((2, 1, n))).astype(np.float32))
    with torch.inference_mode():
        ours = encode(cdpam_metric.encoder, x)
        theirs = cdpam_metric.encoder(x)[0]  # the package's forward: full-rate conv, then x[:, :, ::2]
    assert ours.shape == theirs.shape == (2, 1024)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=2e-6)


def test_encoder_arithmetic_from_layer_shapes(cdpam_metric):
    from s2w_eval.features.cdpam import encoder_multiply_adds

    enc = cdpam_metric.encoder
    # by hand: per input sample, 64*15 + 2*64*64*15 + 64*128*15 at full rate, then each block of four
    # layers at half the previous rate, channels doubling
    per_sample = (
        1 * 64 * 15
        + 2 * 64 * 64 * 15
        + 64 * 128 * 15
        + (3 * 128 * 128 + 128 * 256) * 15 / 2
        + (3 * 256 * 256 + 256 * 512) * 15 / 4
        + (3 * 512 * 512 + 512 * 1024) * 15 / 8
    )
    full = encoder_multiply_adds(enc, 22050 * 8, strided=False)
    assert full == pytest.approx(per_sample * 22050 * 8, rel=1e-9)
    assert 99e9 < full / 8 < 102e9  # about 100 G multiply-adds per second of 22.05 kHz audio
    saved = 1 - encoder_multiply_adds(enc, 22050 * 8) / full
    assert 0.19 < saved < 0.21


def test_precision_choices(cdpam_metric):
    from s2w_eval.features.cdpam import CDPAMMetric, bf16_supported

    assert cdpam_metric.precision == "float32" and cdpam_metric.name == "cdpam"
    assert cdpam_metric.describe()["precision"] == "float32"
    with pytest.raises(UsageError, match="precision"):
        CDPAMMetric(precision="fp8")
    if not bf16_supported(cdpam_metric.device):
        with pytest.raises(UsageError, match="no native bfloat16"):
            CDPAMMetric(precision="bf16")


def test_bf16_close_to_float32(cdpam_metric):
    """bf16 gets its own label; on a short clip its distance stays near float32's (emulated here if need be)."""
    from s2w_eval.features.cdpam import CDPAMMetric

    bf = CDPAMMetric(precision="bf16", allow_emulated_bf16=True)
    assert bf.name == "cdpam/bf16" and bf.describe()["precision"] == "bf16"
    rng = np.random.default_rng(0)
    t = np.arange(320) / 22050
    a = np.round(8000 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    b = np.round(a + 2000 * rng.standard_normal(t.size)).astype(np.float32)
    d32 = cdpam_metric.distance(*cdpam_metric.embed([b, a]))
    d16 = bf.distance(*bf.embed([b, a]))
    assert bf.embed([a])[0].dtype == np.float32
    assert d32 > 0.01 and abs(d16 - d32) < 0.1 * d32


def test_pure_distance_matches_metric(cdpam_metric, shared_data):
    from s2w_eval.features.cdpam import cdpam_distance
    from s2w_eval.io.audio import load_audio

    ref, sr = load_audio(shared_data / "cdpam-reference" / "ref.wav")
    two, _ = load_audio(shared_data / "cdpam-reference" / "2.wav")
    d = cdpam_distance(ref, two, sr=sr)
    assert abs(d - 0.1696) < 5e-4  # the metric's authors' published value
    e = cdpam_metric.embed([cdpam_metric.load(shared_data / "cdpam-reference" / p) for p in ("2.wav",)])
    e_ref = cdpam_metric.embed([cdpam_metric.load(shared_data / "cdpam-reference" / "ref.wav")])
    assert d == pytest.approx(cdpam_metric.distance(e[0], e_ref[0]), abs=1e-7)
    with pytest.raises(DataError, match="NaN"):
        cdpam_distance(ref, np.full(100, np.nan))
    with pytest.raises(DataError, match="1-D"):
        cdpam_distance(ref, np.zeros((2, 100)))
