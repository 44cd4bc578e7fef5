"""Benchmark: `s2w-eval pam` (CDPAM) against the naive use the cdpam package's README shows, and DPAM.

Naive baseline (the package README's pattern): for every (reference, output) pair, load both files with
librosa at 22050 Hz, and run `CDPAM.forward(wav_ref, wav_out)`: two fresh encoder passes per pair, autograd on
(the package as shipped). The package's own class cannot be constructed on current torch (weights_only) and its
loader fails on current numpy (np.float), so the baseline reproduces `forward` with the same network object.
s2w: `score_run` on the same run, cold (empty embedding cache: each clip embedded once, the target's embedding
shared by all conditions, inference mode) and warm (cache filled, a fresh output folder).
Both must give the same distances (max abs difference < 1e-5).

    python benchmarks/bench_pam.py [--quick] [--json PATH]

What bounds it: CDPAM's encoder is 16 conv layers (kernel 15, 64..1024 channels) at 22050 Hz; about
7 GFLOP per second of audio, so a 3 s clip costs ~20 GFLOP: on 2 cores at ~10-20 GFLOP/s that is 1-2 s of pure
arithmetic and ~4 s measured. Cold, the only real saving is not embedding the shared reference twice and not
building autograd graphs; warm, the work is hashing files and a 512-d distance per pair.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def make_bench_run(
    root: Path, n_samples: int, conditions: list[str], seconds: float, sr: int = 16000
) -> Path:
    """A run of harmonic tones + noise (seeded), DESIGN.md section 3 layout."""
    from s2w_eval.io.audio import write_wav

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    lines = ["sample,emotion"]
    for i in range(n_samples):
        sid = f"s{i:02d}"
        lines.append(f"{sid},{'positive' if i % 2 else 'negative'}")
        for c in ["target", *conditions]:
            f0 = rng.uniform(110, 440)
            x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3, 4)) * np.exp(
                -rng.uniform(0.2, 2) * t
            )
            x = x + 0.05 * rng.standard_normal(t.size)
            write_wav(root / c / f"{sid}.wav", (0.7 * x / np.abs(x).max()).astype(np.float32), sr)
    (root / "samples.csv").write_text("\n".join(lines) + "\n")
    return root


def naive_network():
    """The package's network as its CDPAM class builds it: eval mode, parameters requiring grad (autograd on)."""
    import torch

    from s2w_eval.features.cdpam import _NET_KWARGS, CDPAM_WEIGHTS, _import_models, cdpam_package_dir

    pkg = cdpam_package_dir()
    net = _import_models(pkg).FINnet(dev=torch.device("cpu"), **_NET_KWARGS)
    net.load_state_dict(torch.load(pkg / CDPAM_WEIGHTS, map_location="cpu", weights_only=False)["state"])
    return net.eval()


def naive_scores(net, run) -> list[float]:
    """The package README's pattern: per pair, load both clips and forward both through the network."""
    import librosa
    import torch
    import torch.nn.functional as F

    out = []
    for s in run.samples:
        ref_path = run.clip("target", s.id)
        for cond in sorted(c for c in run.conditions if c != "target"):
            wav_ref = np.round(librosa.load(ref_path, sr=22050)[0].astype(np.float64) * 32768).astype(
                np.float32
            )
            wav_out = np.round(librosa.load(run.clip(cond, s.id), sr=22050)[0].astype(np.float64) * 32768)
            a1 = F.normalize(net.base_encoder(torch.from_numpy(wav_ref[None, None]))[1], dim=1)
            a2 = F.normalize(
                net.base_encoder(torch.from_numpy(wav_out.astype(np.float32)[None, None]))[1], dim=1
            )
            out.append(float(net.model_dist(a1, a2)[0].detach()))
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    import torch
    from tabulate import tabulate

    from s2w_eval.features.cache import EmbeddingCache
    from s2w_eval.features.cdpam import CDPAMMetric
    from s2w_eval.io.runs import load_run
    from s2w_eval.metrics.pam import score_run
    from s2w_eval.results import atomic_write_json, provenance

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 samples x 3 conditions of 1 s (< 2 min)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "pam.json")
    ap.add_argument("--no-dpam", action="store_true", help="skip the DPAM part")
    args = ap.parse_args(argv)

    conds = ["baseline", "scene2wav", "other"]
    n, secs = (3, 1.0) if args.quick else (10, 3.0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = load_run(make_bench_run(tmp / "run", n, conds, secs))
        metric = CDPAMMetric()
        pairs = n * len(conds)
        clips = n * (len(conds) + 1)
        metric.embed([metric.load(run.clip("target", run.samples[0].id))])  # warm-up (allocator, threads)

        cache = EmbeddingCache(tmp / "cache")
        t0 = time.perf_counter()
        cold = score_run(run, [metric], tmp / "cold", cache=cache, progress=False)
        t_cold = time.perf_counter() - t0
        rss_s2w = peak_rss_mb()

        t0 = time.perf_counter()
        warm = score_run(run, [metric], tmp / "warm", cache=cache, progress=False)
        t_warm = time.perf_counter() - t0

        t0 = time.perf_counter()
        naive = naive_scores(naive_network(), run)
        t_naive = time.perf_counter() - t0
        rss_naive = peak_rss_mb()

        ours = [r["distance"] for r in cold.rows]
        diff = float(np.max(np.abs(np.array(ours) - np.array(naive))))
        diff_warm = float(np.max(np.abs(np.array([r["distance"] for r in warm.rows]) - np.array(ours))))
        assert warm.computed == pairs and cache.hits >= clips
        if not args.no_dpam:  # DPAM on the same clips (modern loader: 22050 Hz, as CDPAM)
            sys.path.insert(0, str(REPO / "benchmarks"))
            from _dpam_bench import pairs_from_run, run_dpam_bench

            d_same = run_dpam_bench(
                pairs_from_run(run, "modern"), source="the CDPAM run's clips, modern loader"
            )

    table = [
        [
            "naive (package README: 2 forwards per pair, autograd on)",
            f"{t_naive:.2f}",
            f"{2 * pairs / t_naive:.2f}",
            f"{pairs / t_naive:.2f}",
            "1.00x",
            f"{rss_naive:.0f}",
        ],
        [
            "s2w pam, cold cache",
            f"{t_cold:.2f}",
            f"{clips / t_cold:.2f}",
            f"{pairs / t_cold:.2f}",
            f"{t_naive / t_cold:.2f}x",
            f"{rss_s2w:.0f}",
        ],
        [
            "s2w pam, warm cache",
            f"{t_warm:.3f}",
            f"{clips / t_warm:.1f}",
            f"{pairs / t_warm:.1f}",
            f"{t_naive / t_warm:.1f}x",
            "",
        ],
    ]
    print(
        f"CDPAM: {n} samples x {len(conds)} conditions of {secs:g} s ({pairs} pairs, {clips} distinct clips), "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        tabulate(
            table, headers=["", "seconds", "clips/s", "pairs/s", "ratio vs naive", "peak RSS MB (cumulative)"]
        )
    )
    print(f"max |s2w - naive| = {diff:.2e}; warm vs cold = {diff_warm:.2e}")

    summary = {
        "pairs": pairs,
        "clips": clips,
        "clip_seconds": secs,
        "naive_s": t_naive,
        "cold_s": t_cold,
        "warm_s": t_warm,
        "cold_ratio": t_naive / t_cold,
        "warm_ratio": t_naive / t_warm,
        "cdpam_pairs_per_s": pairs / t_cold,
        "max_abs_diff": diff,
        "equal": diff < 1e-5 and diff_warm < 1e-5,
        "peak_rss_mb_s2w": rss_s2w,
        "peak_rss_mb_after_naive": rss_naive,
    }
    if not args.no_dpam:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from _dpam_bench import run_dpam_bench

        d = run_dpam_bench(quick=args.quick)
        print(
            f"DPAM ({d['clips']}): {d['dpam_pairs_per_s']:.1f} pairs/s (baseline transcription "
            f"{d['baseline_pairs_per_s']:.1f} pairs/s, {d['speedup']:.2f}x), max rel diff {d['max_rel_diff']:.1e}"
        )
        print(
            f"DPAM (same clips as CDPAM): {d_same['dpam_pairs_per_s']:.1f} pairs/s vs CDPAM cold "
            f"{pairs / t_cold:.2f} pairs/s ({d_same['dpam_pairs_per_s'] * t_cold / pairs:.0f}x)"
        )
        summary["dpam_pairs_per_s"] = d_same["dpam_pairs_per_s"]
        summary["dpam"] = d_same
        summary["dpam_published_samples"] = d
        summary["equal"] = summary["equal"] and d["equal"] and d_same["equal"]
    atomic_write_json(
        args.json, {"provenance": provenance(command="benchmarks/bench_pam.py"), "summary": summary}
    )
    print(f"wrote {args.json}")
    return 0 if summary["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
