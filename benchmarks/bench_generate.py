"""Benchmark: Scene2Wav generation at the `paper` size, s2w's fast sampler vs the authors' generator.

Reference ("the authors' way", deepsound samplernn-pytorch's Generator that Scene2Wav forks, spec section 5):
one Python step per sample; at a frame boundary the tier runs through its full training module (input
expansion, GRU, learned upsampling) with weight norm recomputed on every call (parametrised weights); the
sample-level MLP runs every step through its module: embedding of the 16 previous codes, then the 16-tap
convolution (4.2 M multiply-adds per sample), then the two 1x1 layers, weight norm recomputed; codes drawn
with `torch.multinomial` from the softmax.
s2w (`s2w_models.sampler`): weights folded once (weight norm evaluated, upsampling as one matrix per tier,
embedding x input convolution as 16 look-up tables), tiers stepped only at their frame boundaries with their
upsampled outputs computed once per frame, `torch.inference_mode`, Gumbel-max sampling.

Same inputs (the same randomly initialised paper-size network and visual embedding) in the same process.
Equal results: the reference, teacher-forced on the codes s2w drew, must give the same per-step
log-probabilities (max abs difference < 1e-3; both float32).

Real-time factor (RTF) = seconds of compute per second of 16 kHz audio produced, over the whole batch (as in
the shared performance notes: the authors' code measured 142 at batch 1 and 13.8 at batch 32 on 2 cores).
The batch-1 floor: reading each weight the step needs once from memory (bytes per step / measured memory
bandwidth; the bandwidth is measured here with a large numpy copy).

    python benchmarks/bench_generate.py [--quick] [--json PATH] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_bandwidth_gbps(mb: int = 512, repeats: int = 5) -> float:
    """Best of `repeats` copies of an `mb` MB float32 array; counts the bytes read plus the bytes written."""
    n = mb * (1 << 20) // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def reference_generate(srnn, v, steps: int, seed: int, forced=None):
    """The authors' generator: per sample, full modules (weight norm recomputed), multinomial sampling.

    Returns (codes (B, steps), logp (B, steps)): logp = log-probability of each code (drawn or forced).
    """
    import torch
    import torch.nn.functional as F

    from s2w_models.nets.quantize import frame_input, q_zero

    b = v.shape[0]
    q = srnn.q_levels
    lb = srnn.lookback
    k = srnn.frame_sizes[0]
    gv = v if srnn.gates else None
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        state = srnn.initial_state(v, b)
        seq = torch.full((b, lb + steps), q_zero(q), dtype=torch.long)
        logps = torch.empty(b, steps)
        conds = [None] * len(srnn.tiers)
        for t in range(steps):
            i = lb + t
            for j in reversed(range(len(srnn.tiers))):
                tier = srnn.tiers[j]
                nfs = tier.n_frame_samples
                if t % nfs:
                    continue
                upper = None
                if j + 1 < len(srnn.tiers):
                    upper = conds[j + 1][:, (t // nfs) % srnn.tiers[j + 1].frame_size]
                conds[j], state[j] = tier.step(frame_input(seq[:, i - nfs : i], q), upper, state[j], gv)
            logits = srnn.mlp.step(seq[:, i - k : i], conds[0][:, t % srnn.tiers[0].frame_size])
            logp = F.log_softmax(logits, dim=-1)
            code = (
                forced[:, t]
                if forced is not None
                else torch.multinomial(logp.exp(), 1, generator=g).squeeze(1)
            )
            seq[:, i] = code
            logps[:, t] = logp.gather(1, code.unsqueeze(1)).squeeze(1)
    return seq[:, lb:], logps


def time_it(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    import torch
    from tabulate import tabulate

    from s2w_eval.results import atomic_write_json, provenance
    from s2w_models import config as C
    from s2w_models.generate import fold_samplernn
    from s2w_models.nets import build_model
    from s2w_models.sampler import sample

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few steps (< 2 min)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "generate.json")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--device", default="cpu", help="device of the fast sampler (the reference runs on CPU)")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(x) for x in args.batches.split(",")]
    bf16_batches = [] if args.no_bf16 else [b for b in batches if b >= 8]
    # steps: multiples of the top frame (64); the reference is ~10-100x slower, so it runs fewer steps
    fast_steps = {b: (512 if b == 1 else 256) if args.quick else (4096 if b == 1 else 2048) for b in batches}
    ref_steps = {b: (128 if b == 1 else 64) if args.quick else (1024 if b == 1 else 512) for b in batches}
    repeats = 1 if args.quick else 2

    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = build_model("scene2wav", C.paper()).eval()
    srnn = model.samplernn
    n_params = sum(p.numel() for p in srnn.parameters())
    print(
        f"paper-size SampleRNN: {n_params:,} parameters, built in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    folded = fold_samplernn(srnn)
    dev = torch.device(args.device)
    folded_dev = folded.to(dev)
    rss_built = peak_rss_mb()

    rows = []
    results: dict[str, dict] = {}
    max_diff = 0.0
    equal = True
    for b in batches:
        v = torch.randn(b, model.encoder.v_dim) * 0.5
        with torch.inference_mode():
            h0 = [h.to(dev) for h in reversed(srnn.initial_state(v, b))]
        seeds = list(range(b))
        vd = v.to(dev)
        sample(folded_dev, h0, 64, seeds, v=vd if srnn.gates else None)  # warm-up
        reference_generate(srnn, v, 64, 0)
        # equality: teacher-force the reference on the codes the fast sampler drew
        chk = min(ref_steps[b], 256)
        fast = sample(folded_dev, h0, chk, seeds, return_logp=True, v=vd if srnn.gates else None)
        _, ref_logp = reference_generate(srnn, v, chk, 0, forced=fast.codes.cpu())
        diff = float((ref_logp - fast.logp.cpu()).abs().max())
        max_diff = max(max_diff, diff)
        equal = equal and diff < 1e-3
        # timing, interleaved (shared machines are noisy: best of `repeats`)
        t_fast = t_ref = float("inf")
        for _ in range(repeats):
            t_fast = min(
                t_fast,
                time_it(
                    lambda b=b, h0=h0, seeds=seeds, vd=vd: sample(
                        folded_dev, h0, fast_steps[b], seeds, v=vd if srnn.gates else None
                    ),
                    1,
                )
                / fast_steps[b],
            )
            t_ref = min(
                t_ref,
                time_it(lambda b=b, v=v: reference_generate(srnn, v, ref_steps[b], 1), 1) / ref_steps[b],
            )
        rtf_fast = t_fast * 16000 / b
        rtf_ref = t_ref * 16000 / b
        results[str(b)] = {
            "fast_ms_per_step": t_fast * 1e3,
            "ref_ms_per_step": t_ref * 1e3,
            "rtf_fast": rtf_fast,
            "rtf_ref": rtf_ref,
            "ratio": t_ref / t_fast,
            "max_logp_diff": diff,
            "fast_steps": fast_steps[b],
            "ref_steps": ref_steps[b],
        }
        rows.append(
            [
                b,
                "authors' (full modules, WN per call)",
                f"{t_ref * 1e3:.2f}",
                f"{rtf_ref:.1f}",
                "1.0",
                f"{peak_rss_mb():.0f}",
            ]
        )
        rows.append(
            [
                b,
                "s2w fast sampler",
                f"{t_fast * 1e3:.2f}",
                f"{rtf_fast:.2f}",
                f"{t_ref / t_fast:.1f}",
                f"{peak_rss_mb():.0f}",
            ]
        )
        if b in bf16_batches:  # reduced precision: faster matrix products, log-probs within ~1e-2 (not exact)
            fb = folded.to(dev, torch.bfloat16)
            sample(fb, h0, 64, seeds, v=vd if srnn.gates else None)
            low = sample(
                fb, h0, chk, seeds, forced=fast.codes, return_logp=True, v=vd if srnn.gates else None
            )
            bdiff = (low.logp.cpu() - fast.logp.cpu()).abs()
            t_bf = min(
                time_it(
                    lambda b=b, h0=h0, seeds=seeds, vd=vd, fb=fb: sample(
                        fb, h0, fast_steps[b], seeds, v=vd if srnn.gates else None
                    ),
                    1,
                )
                / fast_steps[b]
                for _ in range(repeats)
            )
            results[str(b)].update(
                {
                    "bf16_ms_per_step": t_bf * 1e3,
                    "rtf_bf16": t_bf * 16000 / b,
                    "ratio_bf16": t_ref / t_bf,
                    "bf16_logp_diff_max": float(bdiff.max()),
                    "bf16_logp_diff_mean": float(bdiff.mean()),
                }
            )
            rows.append(
                [
                    b,
                    "s2w fast sampler, bf16 matrices",
                    f"{t_bf * 1e3:.2f}",
                    f"{t_bf * 16000 / b:.2f}",
                    f"{t_ref / t_bf:.1f}",
                    f"{peak_rss_mb():.0f}",
                ]
            )
            del fb
        print(
            f"batch {b}: reference {t_ref * 1e3:.2f} ms/step, s2w {t_fast * 1e3:.2f} ms/step, "
            f"x{t_ref / t_fast:.1f}, logp diff {diff:.2e}",
            flush=True,
        )

    bw = memory_bandwidth_gbps(256 if args.quick else 1024)
    w = folded.n_weights()
    bytes_step = w["per_step"] * 4
    floor_ms = bytes_step / (bw * 1e9) * 1e3
    authors_bytes = 30e6  # the authors' arithmetic reads ~7.6 M weights (30 MB float32) per sample step
    print()
    print(
        tabulate(
            rows,
            headers=[
                "batch",
                "generator",
                "ms / step",
                "RTF (compute s / audio s)",
                "speed-up",
                "peak RSS MB",
            ],
            tablefmt="github",
        )
    )
    b1 = results.get("1")
    print()
    print(
        f"memory bandwidth (numpy copy): {bw:.1f} GB/s; s2w reads {bytes_step / 1e6:.1f} MB of weights per "
        f"sample step (amortised; the authors' arithmetic touches ~30 MB): floor {floor_ms:.3f} ms/step "
        f"(RTF {floor_ms * 16:.1f}) at batch 1"
    )
    if b1:
        print(
            f"batch 1: s2w {b1['fast_ms_per_step']:.3f} ms/step = {b1['fast_ms_per_step'] / floor_ms:.1f}x the "
            f"floor"
        )
    print(
        f"equal results (teacher-forced log-probs): max abs diff {max_diff:.2e} -> {'OK' if equal else 'FAIL'}"
    )

    summary = {
        "ratio_batch32": results["32"]["ratio"] if "32" in results else None,
        "ratio_batch1": b1["ratio"] if b1 else None,
        "rtf_fast_batch1": b1["rtf_fast"] if b1 else None,
        "rtf_ref_batch1": b1["rtf_ref"] if b1 else None,
        "rtf_fast_batch32": results["32"]["rtf_fast"] if "32" in results else None,
        "rtf_ref_batch32": results["32"]["rtf_ref"] if "32" in results else None,
        "memory_bandwidth_gbps": bw,
        "weights_mb_per_step": bytes_step / 1e6,
        "authors_weights_mb_per_step": authors_bytes / 1e6,
        "floor_ms_per_step_batch1": floor_ms,
        "batch1_over_floor": b1["fast_ms_per_step"] / floor_ms if b1 else None,
        "ratio_batch32_bf16": results.get("32", {}).get("ratio_bf16"),
        "max_logp_diff": max_diff,
        "equal": equal,
        "threads": torch.get_num_threads(),
        "device": str(dev),
        "quick": args.quick,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_build_mb": rss_built,
        "per_batch": results,
        "n_params": n_params,
    }
    atomic_write_json(
        args.json, {"provenance": provenance(command="benchmarks/bench_generate.py"), "summary": summary}
    )
    print(f"wrote {args.json}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
