"""DPAM timing for benchmarks/bench_pam.py (also runnable alone).

s2w's DPAM (`s2w_eval.features.dpam.DPAMMetric`: channels-last matrix products into reused buffers) against a
named baseline, in the same process on the same clips: a literal PyTorch transcription of the metric's
definition (`F.pad` + `F.conv1d` + `var_mean` batch norm, i.e. the TensorFlow graph op for op). The original
TensorFlow 1 implementation does not run on any current Python, so the transcription stands in for it; both must
give the same distances (relative difference < 1e-4).

    python benchmarks/_dpam_bench.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def transcription_distance(net, a, b):
    """The baseline: DPAM written op for op as its TensorFlow graph (conv1d with 'SAME' pads, var_mean BN)."""
    import torch
    import torch.nn.functional as F

    from s2w_eval.features.dpam import BN_EPS, LEAKY_SLOPE, N_LAYERS, _tf_same_pad

    def feats(x):
        h = x.unsqueeze(1)
        out = []
        for i in range(N_LAYERS):
            stride = 2 if i < N_LAYERS - 1 else 1
            h = F.pad(h, _tf_same_pad(h.shape[-1], stride))
            kernel = torch.stack(net.w[i], dim=0).permute(2, 1, 0).contiguous()  # [Cout, Cin, 3]
            h = F.conv1d(h, kernel, stride=stride)
            var, mean = torch.var_mean(h, dim=2, keepdim=True, unbiased=False)
            h = (h - mean) / torch.sqrt(var + BN_EPS) + net.beta[i].view(1, -1, 1)
            h = F.leaky_relu(h, LEAKY_SLOPE)
            out.append(h)
        return out

    with torch.inference_mode():
        total = 0.0
        for i, (fa, fb) in enumerate(zip(feats(a), feats(b))):
            total = total + (net.abs_dist[i].view(1, -1, 1) * (fa - fb)).abs().mean(dim=(1, 2)).double()
        return total


def bench_clips(quick: bool) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """The clips: the published Scene2Wav samples (target vs each model, paper2020 loader) when present,
    else seeded noise of the same size (3 s, 44.1 kHz stereo interleaved = 266240 samples)."""
    from s2w_eval.features.dpam import load_paper2020

    root = (
        Path(os.environ.get("S2W_TEST_DATA") or REPO.parent / "shared" / "data")
        / "scene2wav-samples"
        / "cognimuse-3s"
    )
    samples = ["N1", "N2", "P1"] if quick else ["N1", "N2", "N3", "N4", "P1", "P2", "P3", "P4"]
    if (root / "target").is_dir():
        pairs = []
        for s in samples:
            target = load_paper2020(root / "target" / f"{s}.wav")
            for cond in ("baseline", "scene2wav"):
                pairs.append((load_paper2020(root / cond / f"{s}.wav"), target))
        return pairs, f"{root} ({len(pairs)} pairs, paper2020 loader)"
    rng = np.random.default_rng(0)
    pairs = [
        (
            (rng.standard_normal(266240) * 3000).astype(np.float32),
            (rng.standard_normal(266240) * 3000).astype(np.float32),
        )
        for _ in range(2 * len(samples))
    ]
    return pairs, f"seeded noise ({len(pairs)} pairs of 266240 samples)"


def pairs_from_run(
    run, loader: str = "modern", reference: str = "target"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(output, reference) clips of every sample and condition of a run, loaded with DPAM's `loader`."""
    from s2w_eval.features.dpam import DPAMMetric

    metric = DPAMMetric("scratch", loader)
    pairs = []
    for s in run.samples:
        ref = metric.load(run.clip(reference, s.id))
        for cond in sorted(c for c in run.conditions if c != reference):
            pairs.append((metric.load(run.clip(cond, s.id)), ref))
    return pairs


def run_dpam_bench(
    pairs: list[tuple[np.ndarray, np.ndarray]] | None = None,
    quick: bool = False,
    device: str = "cpu",
    source: str = "given pairs",
) -> dict:
    """Time DPAM (s2w) and the transcription baseline on the same pairs; returns the figures and a check.
    Without `pairs`: the published Scene2Wav samples with the paper2020 loader (see `bench_clips`)."""
    import torch

    from s2w_eval.features.dpam import DPAMMetric

    if pairs is None:
        pairs, source = bench_clips(quick)
    metric = DPAMMetric("scratch", "paper2020", device=device)  # the loader does not matter for loaded clips
    metric.pair_distance(*pairs[0])  # warm-up (allocator, BLAS threads)

    t0 = time.perf_counter()
    ours = metric.pair_distances(pairs)
    t_ours = time.perf_counter() - t0
    rss_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline runs

    net = metric.net
    t0 = time.perf_counter()
    base = []
    for a, b in pairs:
        ta = torch.from_numpy(np.asarray(a, np.float32))[None].to(net.device)
        tb = torch.from_numpy(np.asarray(b, np.float32))[None].to(net.device)
        base.append(float(transcription_distance(net, ta, tb)[0]))
    t_base = time.perf_counter() - t0

    rel = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(ours, base))
    n = len(pairs)
    return {
        "clips": source,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "pairs": n,
        "samples_per_clip": int(max(len(a) for a, _ in pairs)),
        "dpam_s": t_ours,
        "baseline_s": t_base,
        "dpam_pairs_per_s": n / t_ours,
        "baseline_pairs_per_s": n / t_base,
        "speedup": t_base / t_ours,
        "max_rel_diff": rel,
        "equal": rel < 1e-4,
        "peak_rss_mb_after_dpam": rss_ours,
        "peak_rss_mb_after_baseline": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    from tabulate import tabulate

    from s2w_eval.results import atomic_write_json, provenance

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "dpam.json"))
    args = ap.parse_args(argv)
    r = run_dpam_bench(quick=args.quick, device=args.device)
    print(r["clips"])
    print(
        tabulate(
            [
                [
                    "s2w DPAM (channels-last matmul)",
                    r["pairs"],
                    f"{r['dpam_s']:.2f}",
                    f"{r['dpam_pairs_per_s']:.2f}",
                ],
                [
                    "baseline (op-for-op transcription)",
                    r["pairs"],
                    f"{r['baseline_s']:.2f}",
                    f"{r['baseline_pairs_per_s']:.2f}",
                ],
            ],
            headers=["implementation", "pairs", "seconds", "pairs/s"],
            tablefmt="github",
        )
    )
    print(
        f"speed-up {r['speedup']:.2f}x, max relative difference {r['max_rel_diff']:.2e}, peak RSS {r['peak_rss_mb_after_dpam']:.0f} MB after s2w, "
        f"{r['peak_rss_mb_after_baseline']:.0f} MB after the baseline"
    )
    atomic_write_json(
        args.json, {"provenance": provenance(command="benchmarks/_dpam_bench.py"), "summary": r}
    )
    return 0 if r["equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
