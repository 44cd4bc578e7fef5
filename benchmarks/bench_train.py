"""Training throughput of the conditional SampleRNN (audio samples per second): s2w's loop vs the authors' way.

Reference loop ("authors"), as in S2W/trainer/__init__.py (spec 4.6-4.8): for EVERY TBPTT chunk, every clip of the
batch is encoded separately (batch of one) by the whole CNNSeq2Seq (CNN + encoder + the teacher-forced decoder
over the clip's audio, whose output is unused), projected one clip at a time and concatenated; the sample-level
MLP's input layer is the plain convolution over embedded codes; weight norm recomputed at each call.
s2w's loop: the embedding is computed once per batch and projected in one matrix product; the MLP's input layer
uses the embedding x convolution tables (same arithmetic). Both start from the same weights and optimizer state
and see the same batches; the benchmark checks that their per-step losses agree.

    python benchmarks/bench_train.py [--quick] [--json PATH] [--steps N] [--batch B]
"""

from __future__ import annotations

import argparse
import copy
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2w_eval.results import atomic_write_json, provenance  # noqa: E402
from s2w_models.config import apply_overrides, paper, tiny  # noqa: E402
from s2w_models.nets import ConvSeq2Seq, Scene2Wav  # noqa: E402
from s2w_models.nets.quantize import frame_input, q_zero  # noqa: E402
from s2w_models.nets.samplernn import LOG2E, ConditionalSampleRNN  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_batch(cfg, batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    d = cfg.data
    frames = torch.rand(batch, d.frames_per_clip, 3, d.image_size, d.image_size, generator=g)
    t = torch.arange(d.audio_len) / d.sample_rate
    f0 = 200 + 300 * torch.rand(batch, 1, generator=g)
    audio = (
        0.5 * torch.sin(2 * torch.pi * f0 * t) + 0.05 * torch.randn(batch, d.audio_len, generator=g)
    ).clamp(-1, 1)
    return frames, audio


def codes_of(srnn: ConditionalSampleRNN, audio: torch.Tensor) -> torch.Tensor:
    c = srnn.quantizer.encode(audio)
    return torch.cat([torch.full((c.shape[0], srnn.lookback), q_zero(srnn.q_levels), dtype=torch.long), c], 1)


def chunks(srnn, total, seq_len):
    for start in range(srnn.lookback, total, seq_len):
        yield start, min(seq_len, total - start)


def ref_forward(srnn: ConditionalSampleRNN, input_codes, state, v):
    """The deepsound forward: identical maths, MLP input layer as a convolution over the embedded codes."""
    b, n = input_codes.shape
    t = n - srnn.lookback + 1
    upper, new_state = None, [None] * len(srnn.tiers)
    for i in reversed(range(len(srnn.tiers))):
        tier = srnn.tiers[i]
        nfs = tier.n_frame_samples
        start = srnn.lookback - nfs
        x = frame_input(input_codes[:, start : start + t], srnn.q_levels).reshape(b, t // nfs, nfs)
        upper, new_state[i] = tier(x, upper, state[i], v if srnn.gates else None)
    k = srnn.frame_sizes[0]
    mlp = srnn.mlp
    emb = mlp.embedding(input_codes[:, srnn.lookback - k : srnn.lookback + t - 1]).transpose(1, 2)
    x = F.conv1d(emb, mlp.input.weight).transpose(1, 2)
    x = F.relu(x + upper)
    x = F.relu(F.linear(x, mlp.hidden.weight.squeeze(-1), mlp.hidden.bias))
    logits = F.linear(x, mlp.output.weight.squeeze(-1), mlp.output.bias)
    return F.log_softmax(logits, -1), new_state


def step(srnn, opt, loss, params, clamp=1.0):
    loss.backward()
    for p in params:
        if p.grad is not None:
            p.grad.clamp_(-clamp, clamp)
    opt.step()
    opt.zero_grad(set_to_none=True)


def run_s2w(model: Scene2Wav, opt, batches, seq_len, max_steps):
    srnn = model.samplernn
    params = model.decoder_parameters()
    losses, samples, n = [], 0, 0
    t0 = time.perf_counter()
    for frames, audio in batches:
        seq = codes_of(srnn, audio)
        v = model.embed(frames)  # once per batch
        state = srnn.initial_state(v, seq.shape[0])
        for start, t in chunks(srnn, seq.shape[1], seq_len):
            logp, state = srnn(seq[:, start - srnn.lookback : start + t - 1], state, v)
            loss = ConditionalSampleRNN.nll_bits(logp, seq[:, start : start + t])
            step(srnn, opt, loss, params)
            state = [s.detach() for s in state]
            losses.append(loss.item())
            samples += t * seq.shape[0]
            n += 1
            if n >= max_steps:
                return losses, samples, time.perf_counter() - t0
    return losses, samples, time.perf_counter() - t0


def run_reference(model: Scene2Wav, base: ConvSeq2Seq, opt, batches, seq_len, max_steps):
    srnn = model.samplernn
    params = model.decoder_parameters()
    losses, samples, n = [], 0, 0
    t0 = time.perf_counter()
    for frames, audio in batches:
        seq = codes_of(srnn, audio)
        state = None
        for start, t in chunks(srnn, seq.shape[1], seq_len):
            hs, vs = [], []
            for i in range(frames.shape[0]):  # authors: every clip, every chunk, batch of one
                _ = base(
                    frames[i : i + 1], audio[i : i + 1], decoder_input="leaky_unshifted"
                )  # unused output
                v1 = base.encoder.embed(frames[i : i + 1])
                vs.append(v1)
                if srnn.h0_proj is not None:
                    hs.append(srnn.h0_proj(v1).reshape(1, srnn.n_rnn, srnn.dim).transpose(0, 1))
            v = torch.cat(vs, 0)
            if state is None:  # reset=True on the first chunk only
                state = [torch.cat(hs, 1).contiguous() for _ in srnn.tiers] if hs else srnn.initial_state(v)
            logp, state = ref_forward(srnn, seq[:, start - srnn.lookback : start + t - 1], state, v)
            loss = F.nll_loss(logp.reshape(-1, logp.shape[-1]), seq[:, start : start + t].reshape(-1)) * LOG2E
            step(srnn, opt, loss, params)
            state = [s.detach() for s in state]
            losses.append(loss.item())
            samples += t * seq.shape[0]
            n += 1
            if n >= max_steps:
                return losses, samples, time.perf_counter() - t0
    return losses, samples, time.perf_counter() - t0


def bench(name: str, cfg, batch: int, steps: int, seconds: float):
    d = cfg.data
    d.frames_per_clip = int(round(seconds * d.fps))
    d.audio_len = int(round(seconds * d.sample_rate))
    torch.manual_seed(0)
    model = Scene2Wav(cfg)  # encoder frozen, eval mode (deterministic v): both loops see the same v
    base = ConvSeq2Seq(
        apply_overrides(cfg, {"baseline.output_activation": "relu"}).baseline,
        cfg.encoder,
        cfg.cnn,
        d.frames_per_clip,
        d.image_size,
    )
    base.encoder = model.encoder
    base.eval()
    ref_model = copy.deepcopy(model)
    base.encoder = ref_model.encoder
    opt_a = torch.optim.Adam(model.decoder_parameters(), lr=1e-3)
    opt_b = torch.optim.Adam(ref_model.decoder_parameters(), lr=1e-3)
    n_batches = -(-steps // -(-d.audio_len // cfg.train.seq_len))
    batches = [make_batch(cfg, batch, seed) for seed in range(n_batches)]
    # warm-up on a throw-away copy (first-call overhead)
    warm = copy.deepcopy(model)
    run_s2w(warm, torch.optim.Adam(warm.decoder_parameters()), batches[:1], cfg.train.seq_len, 1)
    del warm
    la, sa, ta = run_s2w(model, opt_a, batches, cfg.train.seq_len, steps)
    rss_a = peak_rss_mb()
    lb, sb, tb = run_reference(ref_model, base, opt_b, batches, cfg.train.seq_len, steps)
    rss_b = peak_rss_mb()
    diff = max(abs(x - y) for x, y in zip(la, lb))
    return {
        "config": name,
        "batch": batch,
        "steps": len(la),
        "clip_seconds": seconds,
        "seq_len": cfg.train.seq_len,
        "s2w_samples_per_s": sa / ta,
        "reference_samples_per_s": sb / tb,
        "ratio": (sa / ta) / (sb / tb),
        "s2w_seconds": ta,
        "reference_seconds": tb,
        "loss_first": la[0],
        "loss_last": la[-1],
        "loss_max_abs_diff": diff,
        "equal_loss": diff < 1e-3 * max(1.0, abs(la[0])),
        "peak_rss_mb_after_s2w": rss_a,
        "peak_rss_mb_after_reference": rss_b,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (< 2 min on 2 cores)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "train.json"))
    ap.add_argument("--steps", type=int, default=None, help="paper-size steps (default 2 quick, 4 full)")
    ap.add_argument(
        "--batch",
        type=int,
        default=16,
        help="paper-size batch (authors: 128 on a GPU; our speed anchors are at 4 and 16)",
    )
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from tabulate import tabulate

    rows = []
    steps = args.steps or (2 if args.quick else 4)
    rows.append(bench("paper", paper(), args.batch, steps, 3.0))
    tcfg = tiny()
    torch.set_num_threads(1)  # the tiny preset's own setting (train.threads=1)
    rows.append(bench("tiny", tcfg, 4, 8 if args.quick else 32, 0.256))
    if args.threads:
        torch.set_num_threads(args.threads)
    cols = [
        "config",
        "batch",
        "steps",
        "s2w_samples_per_s",
        "reference_samples_per_s",
        "ratio",
        "loss_first",
        "loss_last",
        "loss_max_abs_diff",
        "equal_loss",
        "peak_rss_mb_after_reference",
    ]
    print(tabulate([[r[c] for c in cols] for r in rows], headers=cols, floatfmt=".4g"))
    summary = {
        "ratio": rows[0]["ratio"],
        "ratio_tiny": rows[1]["ratio"],
        "s2w_samples_per_s_paper": rows[0]["s2w_samples_per_s"],
        "reference_samples_per_s_paper": rows[0]["reference_samples_per_s"],
        "equal_loss": all(r["equal_loss"] for r in rows),
        "goal_ratio": 3.0,
    }
    atomic_write_json(
        args.json,
        {
            "provenance": provenance(command="benchmarks/bench_train.py"),
            "summary": summary,
            "rows": rows,
            "threads": torch.get_num_threads(),
        },
    )
    print(f"summary: {summary}\nwrote {args.json}")
    return 0 if summary["equal_loss"] else 1


if __name__ == "__main__":
    sys.exit(main())
