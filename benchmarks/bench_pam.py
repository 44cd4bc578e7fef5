"""Benchmark: `s2w-eval pam` (CDPAM) against the naive use the cdpam package's README shows, and DPAM.

Naive baseline (the package README's pattern): for every (reference, output) pair, load both files with
librosa at 22050 Hz, and run `CDPAM.forward(wav_ref, wav_out)`: two fresh encoder passes per pair, autograd on
(the package as shipped). The package's own class cannot be constructed on current torch (weights_only) and its
loader fails on current numpy (np.float), so the baseline reproduces `forward` with the same network object.
s2w: the pam task on the runner (`run_task(run, PamTask([metric]), ...)`) on the same run, cold (empty embedding cache: each clip embedded once, the target's embedding
shared by all conditions, inference mode) and warm (cache filled, a fresh output folder).
Both must give the same distances (max abs difference < 1e-5).

    python benchmarks/bench_pam.py [--quick] [--json PATH] [--bf16-deviation [--seconds S]]

What bounds it: arithmetic. CDPAM's encoder is 16 conv layers (kernel 15, 64..1024 channels) whose every fourth
layer halves the rate: counted from the layer shapes (`encoder_multiply_adds`), the package's forward costs
100.3 G multiply-adds per second of 22.05 kHz audio (about 300 G for a 3 s clip); s2w computes the four
decimating layers as stride-2 convolutions, 80.0 G (20% less) for the same dot products. The table reports
the achieved GFLOP/s (2 FLOP per multiply-add, encoder only) beside the machine's float32 matrix-multiply rate
measured here (torch.mm, 2048 x 2048): no CPU implementation of this network can beat the latter by much.
Cold, the savings are the stride-2 layers, not embedding the shared reference twice and not building autograd
graphs; warm, the work is hashing files and a 512-d distance per pair.

--bf16-deviation: CDPAM distances of the published samples (a run folder, default the Scene2Wav 3 s samples)
in float32 and bfloat16; native `torch.autocast` where the CPU runs bf16 (AMX / AVX-512 BF16), else an
emulation (the same roundings to bfloat16 around float32 arithmetic, checked against real autocast on a short
clip), said in the output. --seconds S scores only the first S seconds of every clip (for slow machines).
"""

from __future__ import annotations

import argparse
import os
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
    """A run of harmonic tones + noise (seeded), the run layout of docs/generation.md."""
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


def naive_scores(net, run) -> dict[tuple[str, str], float]:
    """The package README's pattern: per pair, load both clips and forward both through the network."""
    import librosa
    import torch
    import torch.nn.functional as F

    out = {}
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
            out[(s.id, cond)] = float(net.model_dist(a1, a2)[0].detach())
    return out


def matmul_gflops(n: int = 2048, repeats: int = 3) -> float:
    """The machine's float32 matrix-multiply rate (torch.mm, best of `repeats`), GFLOP/s."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def encode_bf16_emulated(encoder, x):
    """`encode` with autocast-to-bfloat16's roundings, in float32 arithmetic (for CPUs without native bf16):
    conv inputs, weights and bias rounded to bf16, each op's output rounded to bf16 (autocast runs conv1d in
    bf16 and batch norm, leaky ReLU and the mean in their input's dtype)."""
    import torch
    import torch.nn.functional as F

    from s2w_eval.features.cdpam import _decimates

    def r(t):
        return t.to(torch.bfloat16).float()

    for i, (conv, bn) in enumerate(zip(encoder.encoder, encoder.ebatch)):
        s = 2 if _decimates(i) else 1
        x = r(F.conv1d(r(x), r(conv.weight), r(conv.bias), stride=s, padding=conv.padding))
        x = r(F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps))
        x = r(F.leaky_relu(x, 0.1))
    return r(x.sum(dim=2) / x.shape[2])


def bf16_deviation(run_dir: Path, seconds: float | None) -> dict:
    """float32 vs bf16 CDPAM distances on a run's clips (each condition against the reference `target`)."""
    import torch
    import torch.nn.functional as F

    from s2w_eval.features.cdpam import CDPAMMetric, bf16_supported, encode
    from s2w_eval.io.runs import load_run

    run = load_run(run_dir)
    f32 = CDPAMMetric()
    native = bf16_supported(f32.device)

    def emb_bf16(x):
        xt = torch.from_numpy(x)[None, None]
        with torch.inference_mode():
            if native:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    feats = encode(f32.encoder, xt)
            else:
                feats = encode_bf16_emulated(f32.encoder, xt)
            return F.normalize(feats[:, :512].float(), dim=1)[0].numpy()

    # the emulation against real (slow) autocast on a short clip
    probe = f32.load(run.clip("target", run.samples[0].id))[:200]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        real = F.normalize(encode(f32.encoder, torch.from_numpy(probe)[None, None])[:, :512].float(), dim=1)
    emu_err = float(np.abs(real[0].numpy() - emb_bf16(probe)).max()) if not native else 0.0
    emu_dev = float(np.abs(real[0].numpy() - f32.embed([probe])[0]).max())
    conds = sorted(c for c in run.conditions if c != "target")
    rows, t32, t16 = [], 0.0, 0.0
    for s in run.samples:
        clips = {c: f32.load(run.clip(c, s.id)) for c in ["target", *conds]}
        if seconds:
            clips = {c: x[: int(seconds * 22050)] for c, x in clips.items()}
        t0 = time.perf_counter()
        e32 = {c: f32.embed([x])[0] for c, x in clips.items()}
        t1 = time.perf_counter()
        e16 = {c: emb_bf16(x) for c, x in clips.items()}
        t16 += time.perf_counter() - t1
        t32 += t1 - t0
        for c in conds:
            d32 = f32.distance(e32[c], e32["target"])
            d16 = f32.distance(e16[c], e16["target"])
            rows.append({"sample": s.id, "condition": c, "float32": d32, "bf16": d16})
    d32 = np.array([r["float32"] for r in rows])
    d16 = np.array([r["bf16"] for r in rows])
    by = {(r["sample"], r["condition"]): r for r in rows}
    flips = sum(
        1
        for s in run.samples
        if len(conds) > 1
        and np.argmin([by[(s.id, c)]["float32"] for c in conds])
        != np.argmin([by[(s.id, c)]["bf16"] for c in conds])
    )
    return {
        "run": str(run_dir),
        "seconds_per_clip": seconds,
        "bf16": "native torch.autocast" if native else "emulated (float32 arithmetic, bf16 roundings)",
        "emulation_vs_autocast_max_abs_embedding": emu_err,
        "autocast_vs_float32_max_abs_embedding_probe": emu_dev,
        "pairs": len(rows),
        "max_abs_deviation": float(np.abs(d16 - d32).max()),
        "mean_abs_deviation": float(np.abs(d16 - d32).mean()),
        "max_rel_deviation": float((np.abs(d16 - d32) / np.abs(d32)).max()),
        "float32_range": [float(d32.min()), float(d32.max())],
        "winner_changes": flips,
        "samples": len(run.samples),
        "float32_s": t32,
        "bf16_s": t16,
        "rows": rows,
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    import torch
    from tabulate import tabulate

    from s2w_eval.features.cache import EmbeddingCache
    from s2w_eval.features.cdpam import CDPAMMetric
    from s2w_eval.io.runs import load_run
    from s2w_eval.results import atomic_write_json, provenance
    from s2w_eval.runner import run_task
    from s2w_eval.tasks.pam import PamTask

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 samples x 3 conditions of 1 s (< 2 min)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "pam.json")
    ap.add_argument("--no-dpam", action="store_true", help="skip the DPAM part")
    ap.add_argument(
        "--bf16-deviation",
        nargs="?",
        const=Path(os.environ.get("S2W_TEST_DATA") or REPO.parent / "shared" / "data")
        / "scene2wav-samples"
        / "cognimuse-3s",
        type=Path,
        metavar="RUN",
        help="only measure bf16 against float32 on a run's clips (default: the published 3 s samples)",
    )
    ap.add_argument(
        "--seconds", type=float, default=None, help="with --bf16-deviation: first S s of each clip"
    )
    args = ap.parse_args(argv)
    if args.bf16_deviation is not None:
        res = bf16_deviation(args.bf16_deviation, args.seconds)
        print(
            tabulate(
                [
                    [
                        r["sample"],
                        r["condition"],
                        f"{r['float32']:.5f}",
                        f"{r['bf16']:.5f}",
                        f"{r['bf16'] - r['float32']:+.5f}",
                    ]
                    for r in res["rows"]
                ],
                headers=["sample", "condition", "float32", "bf16", "bf16 - float32"],
            )
        )
        print(
            f"bf16 ({res['bf16']}): max |dev| {res['max_abs_deviation']:.2e}, mean {res['mean_abs_deviation']:.2e},"
            f" max rel {res['max_rel_deviation']:.2%}; per-sample winner changes {res['winner_changes']} of"
            f" {res['samples']}; emulation vs autocast {res['emulation_vs_autocast_max_abs_embedding']:.1e}"
            f" (autocast vs float32 {res['autocast_vs_float32_max_abs_embedding_probe']:.1e}) per embedding value"
        )
        path = args.json.with_name("pam_bf16.json")
        atomic_write_json(
            path,
            {"provenance": provenance(command="benchmarks/bench_pam.py --bf16-deviation"), "summary": res},
        )
        print(f"wrote {path}")
        return 0
    from s2w_eval.features.cdpam import encoder_multiply_adds

    mm_gflops = matmul_gflops()

    conds = ["baseline", "scene2wav", "other"]
    n, secs = (3, 1.0) if args.quick else (10, 3.0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = load_run(make_bench_run(tmp / "run", n, conds, secs))
        metric = CDPAMMetric()
        pairs = n * len(conds)
        clips = n * (len(conds) + 1)
        metric.embed([metric.load(run.clip("target", run.samples[0].id))])  # warm-up (allocator, threads)
        lengths = [len(metric.load(run.clip(c, s.id))) for s in run.samples for c in ["target", *conds]]
        macs_cold = sum(encoder_multiply_adds(metric.encoder, n) for n in lengths)
        macs_naive = (
            2
            * len(conds)
            * sum(encoder_multiply_adds(metric.encoder, n, strided=False) for n in lengths[:: len(conds) + 1])
        )  # every pair: target + output, package forward; the bench's clips all have one length

        cache = EmbeddingCache(tmp / "cache")
        c0, t0 = time.process_time(), time.perf_counter()
        cold = run_task(run, PamTask([metric]), tmp / "cold", cache=cache, progress=False)
        t_cold, c_cold = time.perf_counter() - t0, time.process_time() - c0
        rss_s2w = peak_rss_mb()

        t0 = time.perf_counter()
        warm = run_task(run, PamTask([metric]), tmp / "warm", cache=cache, progress=False)
        t_warm = time.perf_counter() - t0

        c0, t0 = time.process_time(), time.perf_counter()
        naive = naive_scores(naive_network(), run)
        t_naive, c_naive = time.perf_counter() - t0, time.process_time() - c0
        rss_naive = peak_rss_mb()

        ours = {(r["sample"], r["condition"]): r["distance"] for r in cold.rows}
        again = {(r["sample"], r["condition"]): r["distance"] for r in warm.rows}
        assert set(ours) == set(naive) == set(again) and len(ours) == pairs
        diff = max(abs(ours[k] - naive[k]) for k in ours)
        diff_warm = max(abs(again[k] - ours[k]) for k in ours)
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
            f"{2 * macs_naive / t_naive / 1e9:.1f}",
            f"{rss_naive:.0f}",
        ],
        [
            "s2w pam, cold cache",
            f"{t_cold:.2f}",
            f"{clips / t_cold:.2f}",
            f"{pairs / t_cold:.2f}",
            f"{t_naive / t_cold:.2f}x",
            f"{2 * macs_cold / t_cold / 1e9:.1f}",
            f"{rss_s2w:.0f}",
        ],
        [
            "s2w pam, warm cache",
            f"{t_warm:.3f}",
            f"{clips / t_warm:.1f}",
            f"{pairs / t_warm:.1f}",
            f"{t_naive / t_warm:.1f}x",
            "",
            "",
        ],
    ]
    print(
        f"CDPAM: {n} samples x {len(conds)} conditions of {secs:g} s ({pairs} pairs, {clips} distinct clips), "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        tabulate(
            table,
            headers=[
                "",
                "seconds",
                "clips/s",
                "pairs/s",
                "ratio vs naive",
                "encoder GFLOP/s",
                "peak RSS MB (cumulative)",
            ],
        )
    )
    print(f"max |s2w - naive| = {diff:.2e}; warm vs cold = {diff_warm:.2e}")
    print(
        f"CPU time (all threads; on a shared machine less disturbed by neighbours than wall time): naive "
        f"{c_naive:.1f} s, cold {c_cold:.1f} s, ratio {c_naive / c_cold:.2f}x; arithmetic ratio "
        f"{macs_naive / macs_cold:.2f}x"
    )
    per_s = encoder_multiply_adds(metric.encoder, 22050 * 10, strided=False) / 10
    print(
        f"encoder arithmetic (layer shapes): {per_s / 1e9:.1f} G multiply-adds per second of audio "
        f"(package forward), {encoder_multiply_adds(metric.encoder, 220500) / 10 / 1e9:.1f} G with stride-2; "
        f"float32 matrix multiply on this machine: {mm_gflops:.1f} GFLOP/s"
    )

    summary = {
        "pairs": pairs,
        "clips": clips,
        "clip_seconds": secs,
        "naive_s": t_naive,
        "cold_s": t_cold,
        "warm_s": t_warm,
        "cold_ratio": t_naive / t_cold,
        "naive_cpu_s": c_naive,
        "cold_cpu_s": c_cold,
        "cold_cpu_ratio": c_naive / c_cold,
        "arithmetic_ratio": macs_naive / macs_cold,
        "warm_ratio": t_naive / t_warm,
        "cdpam_pairs_per_s": pairs / t_cold,
        "max_abs_diff": diff,
        "encoder_gmacs_per_audio_s_package": per_s / 1e9,
        "encoder_gmacs_cold": macs_cold / 1e9,
        "encoder_gmacs_naive": macs_naive / 1e9,
        "cold_gflops": 2 * macs_cold / t_cold / 1e9,
        "naive_gflops": 2 * macs_naive / t_naive / 1e9,
        "matmul_float32_gflops": mm_gflops,
        "torch_threads": torch.get_num_threads(),
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
