"""The CUDA paths: every training stage, bf16 autocast, generation (fp32 and bf16) and diagnostics on a GPU.

Skipped without a GPU (`pytest -m cuda` on a GPU machine, or scripts/gpu-check.sh). Each test compares the GPU
result with the CPU one where they must agree, and only checks sanity where bf16 makes them differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible"),
]


class Scenes(torch.utils.data.Dataset):
    """Two 0.5 s clips at 8 kHz in SpliceDataset's item format (no audio analysis needed here)."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        t = torch.arange(4000) / 8000
        self.items = [
            {
                "frames": torch.rand(4, 3, 100, 100, generator=g),
                "audio": 0.5 * torch.sin(2 * np.pi * (220 + 110 * i) * t),
                "emotion": torch.tensor(i),
                "sample": ("negative", "positive")[i],
                "index": i,
            }
            for i in range(2)
        ]
        self.meta = {
            "seconds": 0.5,
            "fps": 10,
            "frames_per_clip": 4,
            "sample_rate": 8000,
            "audio_len": 4000,
            "frame_size": [100, 100],
        }

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.fixture(scope="module")
def scenes():
    return Scenes()


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "bf16"])
def test_every_stage_trains_on_cuda(tmp_path, scenes, amp):
    from s2w_models.checkpoint import load_model
    from s2w_models.train import train_stage

    over = [f"train.{s}.epochs=2" for s in ("cnn", "encoder", "scene2wav")]
    over += ["train.encoder.crop_samples=1024", "train.scene2wav.crop_samples=2048", "train.seq_len=1024"]
    out = train_stage(
        "all",
        None,
        tmp_path,
        preset="small",
        datasets=(scenes, scenes),
        overrides=over,
        device="cuda",
        amp=amp,
        progress=False,
    )
    for stage, s in out.items():
        assert s["status"] == "completed" and s["device"].startswith("cuda"), stage
        assert s["best_val_loss"] is not None and np.isfinite(s["best_val_loss"]), stage
    model, _, _ = load_model(tmp_path / "scene2wav" / "best.pt")  # a GPU-trained checkpoint loads on CPU
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_cuda_training_matches_cpu(tmp_path, scenes):
    from s2w_models.train import train_stage

    over = ["train.scene2wav.epochs=1", "train.scene2wav.crop_samples=1024", "train.seq_len=1024"]
    kw = dict(preset="small", datasets=(scenes, scenes), overrides=over, progress=False, init="random")
    cpu = train_stage("scene2wav", None, tmp_path / "cpu", device="cpu", **kw)["scene2wav"]
    gpu = train_stage("scene2wav", None, tmp_path / "gpu", device="cuda", **kw)["scene2wav"]
    assert gpu["best_val_loss"] == pytest.approx(cpu["best_val_loss"], rel=1e-3)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_generation_on_cuda(scenes, precision):
    from s2w_models.config import apply_overrides, small
    from s2w_models.generate import BaselineGenerator, Scene2WavGenerator
    from s2w_models.nets import build_model

    cfg = apply_overrides(small(), ["data.frames_per_clip=4", "data.sample_rate=8000", "data.audio_len=4000"])
    torch.manual_seed(0)
    frames = torch.stack([it["frames"] for it in scenes.items] * 16)  # batch 32
    s2w = build_model("scene2wav", cfg).eval()
    seeds = list(range(32))
    gpu = Scene2WavGenerator(s2w, "cuda", precision)(frames, 1024, seeds, temperature=0.0)
    assert gpu.shape == (32, 1024) and np.isfinite(gpu).all()
    if precision == "fp32":  # greedy decoding: the same codes as on CPU
        cpu = Scene2WavGenerator(s2w, "cpu")(frames, 1024, seeds, temperature=0.0)
        assert np.mean(np.isclose(cpu, gpu, atol=1e-4)) > 0.99
    base = build_model("baseline", cfg).eval()
    out = BaselineGenerator(base, "cuda")(frames, 1024, seeds)
    ref = BaselineGenerator(base, "cpu")(frames, 1024, seeds)
    assert np.allclose(out, ref, atol=1e-4)


def test_diagnose_on_cuda(tmp_path, scenes):
    from s2w_models.diagnose import diagnose
    from s2w_models.train import train_stage

    from .test_learning import write_prepared  # noqa: I001 (needs s2w_eval's audio analysis only to import)

    write_prepared(scenes, tmp_path / "data")
    over = ["train.scene2wav.epochs=1", "train.scene2wav.crop_samples=1024", "train.seq_len=1024"]
    train_stage(
        "scene2wav",
        None,
        tmp_path / "t",
        preset="small",
        datasets=(scenes, scenes),
        overrides=over,
        progress=False,
        init="random",
        device="cuda",
    )
    ck = tmp_path / "t" / "scene2wav" / "best.pt"
    a = diagnose(ck, tmp_path / "data", clips=2, seconds=0.25, device="cuda")
    b = diagnose(ck, tmp_path / "data", clips=2, seconds=0.25, device="cpu")
    assert a["nll_true_bits"] == pytest.approx(b["nll_true_bits"], rel=1e-3)
