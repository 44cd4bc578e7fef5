"""DDP on CPU (gloo): 2 processes under torchrun == 1 process with the same global batch (float tolerance)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = [
    "train.scene2wav.epochs=1",
    "train.scene2wav.batch_size=4",
    "train.scene2wav.crop_samples=512",
    "samplernn.conditioning=both",
    "train.scene2wav.patience=0",
    # SGD, not Adam: Adam's first steps are about lr * sign(grad), so a near-zero gradient whose last bits differ
    # between one all-reduced sum and one local sum (CPU kernels differ between machines) moves a weight by a
    # whole lr either way. SGD keeps a float difference in the gradient a float difference in the weights.
    "train.scene2wav.optimizer=sgd",
    "train.scene2wav.lr=0.2",
]


def _run(out: str, extra: tuple[str, ...] = ()) -> None:
    from s2w_models.train import train_stage
    from tests.test_train import MemSplices

    train_stage(
        "scene2wav",
        None,
        out,
        preset="tiny",
        overrides=OVERRIDES + list(extra),
        progress=False,
        init="random",
        datasets=(MemSplices(8, seed=0), MemSplices(2, seed=1)),
    )


def test_two_gloo_processes_equal_one(tmp_path):
    from s2w_models.checkpoint import read_checkpoint

    torch.set_num_threads(1)
    _run(str(tmp_path / "one"))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(Path(__file__)),
        str(tmp_path / "two"),
    ]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    a = read_checkpoint(tmp_path / "one" / "scene2wav" / "last.pt")
    b = read_checkpoint(tmp_path / "two" / "scene2wav" / "last.pt")
    assert b["meta"]["world_size"] == 2 and a["meta"]["world_size"] == 1
    assert a["meta"]["step"] == b["meta"]["step"] == 4
    for k, va in a["model"].items():
        assert torch.allclose(va, b["model"][k], rtol=1e-4, atol=1e-5), k
    # the comparison can fail: another global batch (2, 8 steps) ends elsewhere beyond the tolerance
    _run(str(tmp_path / "other"), ("train.scene2wav.batch_size=2",))
    c = read_checkpoint(tmp_path / "other" / "scene2wav" / "last.pt")
    assert any(not torch.allclose(va, c["model"][k], rtol=1e-4, atol=1e-5) for k, va in a["model"].items())
    # averaged metrics: the validation loss matches too
    ha, hb = a["train_state"]["loop"]["history"][-1], b["train_state"]["loop"]["history"][-1]
    assert abs(ha["val_loss"] - hb["val_loss"]) < 1e-4 and abs(ha["train_loss"] - hb["train_loss"]) < 1e-4
    # only rank 0 wrote files
    assert sorted(p.name for p in (tmp_path / "two" / "scene2wav").iterdir()) == sorted(
        p.name for p in (tmp_path / "one" / "scene2wav").iterdir()
    )


if __name__ == "__main__":  # torchrun worker
    sys.path.insert(0, str(ROOT))
    torch.set_num_threads(1)
    _run(sys.argv[1])
