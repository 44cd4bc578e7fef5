#!/usr/bin/env bash
# On a machine with a CUDA GPU: the CUDA tests, then timings of a few paper-size training steps (fp32, bf16),
# batch-32 paper-size generation and CDPAM/DPAM on cuda. About 5 minutes. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible')"
"$PY" -m pytest -q -ra -m cuda tests/test_cuda.py "$@"
"$PY" - <<'PY'
import time

import numpy as np
import torch
from tabulate import tabulate

from s2w_models.config import paper
from s2w_models.generate import Scene2WavGenerator
from s2w_models.nets import build_model
from s2w_models.train import train_stage

rows = []
dev = "cuda"
torch.manual_seed(0)


class Clips(torch.utils.data.Dataset):
    """Paper-shaped clips (30 frames 100x100, 3 s at 16 kHz), random content: timing only."""

    def __init__(self, n):
        g = torch.Generator().manual_seed(0)
        self.items = [
            {"frames": torch.rand(30, 3, 100, 100, generator=g), "audio": torch.rand(48000, generator=g) * 2 - 1,
             "emotion": torch.tensor(i % 2), "sample": str(i), "index": i}
            for i in range(n)
        ]
        self.meta = {"seconds": 3.0, "fps": 10, "frames_per_clip": 30, "sample_rate": 16000, "audio_len": 48000,
                     "frame_size": [100, 100]}

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


import tempfile

data = Clips(32)
for amp in (False, True):
    with tempfile.TemporaryDirectory() as tmp:
        over = ["train.scene2wav.batch_size=32", "train.scene2wav.max_steps=6", "train.scene2wav.epochs=1",
                "train.max_val_clips=1"]
        t0 = time.perf_counter()
        s = train_stage("scene2wav", None, tmp, preset="paper", datasets=(data, data), overrides=over,
                        device=dev, amp=amp, progress=False, init="random")["scene2wav"]
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        rows.append([f"paper scene2wav train, batch 32, {'bf16' if amp else 'fp32'}", s["steps"],
                     f"{dt:.1f} s", f"{s['steps'] * 32 * 1024 / dt:,.0f} samples/s (incl. validation)"])

cfg = paper()
model = build_model("scene2wav", cfg).eval()
frames = torch.stack([data[i]["frames"] for i in range(32)])
for precision in ("fp32", "bf16"):
    gen = Scene2WavGenerator(model, dev, precision)
    gen(frames[:2], 256, [0, 1])  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    gen(frames, 16000, list(range(32)))
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    rows.append([f"paper scene2wav generate, batch 32 x 1 s, {precision}", 32, f"{dt:.1f} s",
                 f"real-time factor {dt / 32:.3f} per clip"])

from s2w_eval.features.cdpam import CDPAMMetric
from s2w_eval.features.dpam import DPAMMetric

clips = [np.random.default_rng(i).uniform(-0.5, 0.5, 16000 * 3).astype(np.float32) for i in range(16)]
for name, make in (("CDPAM", lambda: CDPAMMetric(device=dev)), ("DPAM", lambda: DPAMMetric(device=dev))):
    try:
        metric = make()
    except Exception as exc:  # a package or its weights not installed here: say so, time the rest
        rows.append([f"{name}: not run", 0, "-", f"{type(exc).__name__}: {exc}"[:100]])
        continue
    metric.pair_distance(clips[1], clips[0])  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    d = [metric.pair_distance(clips[i], clips[0]) for i in range(1, len(clips))]
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    rows.append([f"{name} pair distance, 15 pairs of 3 s clips", 15, f"{dt:.2f} s", f"mean d {np.mean(d):.4f}"])

print(tabulate(rows, headers=["check", "n", "time", "rate"], tablefmt="github"))
print(f"device: {torch.cuda.get_device_name(0)}")
PY
