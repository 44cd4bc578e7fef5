"""Conditioning diagnostics: how much a trained model uses its condition (the scene).

`diagnose(checkpoint, data_dir, split="val", clips=16, seconds=1.0, seed=0)` returns a dict (also what
`s2w-models diagnose` prints and writes as JSON):

Scene2Wav checkpoints
- `nll_true_bits`: NLL in bits per sample of the split's clips (the first `seconds` of each) with each clip's
  own condition v, teacher-forced with TBPTT chunks exactly as validation during training;
- `nll_shuffled_bits`: the same clips and audio with the condition of another clip (a seeded derangement:
  no clip keeps its own v); `nll_gap_bits` = shuffled - true. A model that ignores the scene has a gap of ~0;
- `kl_opposite_nats` / `kl_same_nats`: the mean per-sample KL(p(. | audio, v_i) || p(. | audio, v_j)) in nats
  between the output distributions for the SAME audio context under the conditions of two different scenes,
  for pairs of opposite (same) emotion: how far the condition moves the prediction.
Baseline (ConvSeq2Seq) checkpoints
- `l1_true`, `l1_shuffled`, `l1_gap`: L1 of its free-running output from the video alone against the clip's
  audio with the clip's own vs another clip's embedding; `output_diff_opposite`: mean |difference| between the
  waveforms decoded for scenes of opposite emotion.
Everything is measured on the given split only (default `val`, never the training clips).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from s2w_eval.errors import DataError, UsageError
from s2w_eval.results import provenance, sha256_file

#: the gap (bits per sample) below which a report should say the condition is not used
GAP_NEGLIGIBLE_BITS = 0.01


def derangement(n: int, seed: int) -> list[int]:
    """A seeded permutation with no fixed point (n >= 2): clip i gets the condition of clip p[i] != i."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    p = [0] * n
    for k in range(n):  # a random cycle through all clips: never a fixed point
        p[int(order[k])] = int(order[(k + 1) % n])
    return p


def opposite_pairs(emotions: list[str], seed: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """For each clip, one clip of the other emotion and one of the same emotion (seeded), where they exist."""
    rng = np.random.default_rng(seed + 1)
    opp, same = [], []
    for i, e in enumerate(emotions):
        others = [j for j, f in enumerate(emotions) if f != e]
        sames = [j for j, f in enumerate(emotions) if f == e and j != i]
        if others:
            opp.append((i, int(rng.choice(others))))
        if sames:
            same.append((i, int(rng.choice(sames))))
    return opp, same


def _clips(ds, n: int, seed: int) -> list[int]:
    """Up to n clips of the split, balanced by emotion (the generation selection rule), in dataset order."""
    from .generate import select_samples

    return select_samples(ds.samples["emotion"].tolist(), n, seed)


def _scene2wav(model, cfg, frames, audio, emotions, seed: int) -> dict[str, Any]:
    from .nets.quantize import q_zero

    srnn = model.samplernn
    lb, sl = srnn.lookback, cfg.train.seq_len
    n = audio.shape[1] - audio.shape[1] % lb
    codes = srnn.quantizer.encode(audio[:, :n].float())
    prefix = torch.full((codes.shape[0], lb), q_zero(srnn.q_levels), dtype=torch.long, device=codes.device)
    seq = torch.cat([prefix, codes], dim=1)
    if not srnn.cond_dim:
        raise UsageError("this Scene2Wav was trained without a condition (samplernn.conditioning=none)")
    v = model.embed(frames)

    def run(cond: torch.Tensor, keep: bool = False):
        """Summed NLL (nats) over all targets, and (if keep) the log-probabilities chunk by chunk."""
        state = srnn.initial_state(cond, seq.shape[0])
        tot, out = 0.0, []
        for start in range(lb, seq.shape[1], sl):
            t = min(sl, seq.shape[1] - start)
            logp, state = srnn(seq[:, start - lb : start + t - 1], state, cond)
            tgt = seq[:, start : start + t]
            tot += float(F.nll_loss(logp.reshape(-1, logp.shape[-1]), tgt.reshape(-1), reduction="sum"))
            if keep:
                out.append(logp)
        return tot, (torch.cat(out, dim=1) if keep else None)

    n_targets = seq.shape[0] * (seq.shape[1] - lb)
    true_nats, logp_true = run(v, keep=True)
    perm = derangement(len(emotions), seed)
    shuf_nats, _ = run(v[perm])
    opp, same = opposite_pairs(emotions, seed)

    def kl(pairs):
        if not pairs:
            return None
        i = [a for a, _ in pairs]
        j = [b for _, b in pairs]
        # the audio context of clip i under the condition of clip j
        cond = v.clone()
        cond[i] = v[j]
        _, logp_other = run(cond, keep=True)
        p = logp_true[i]
        q = logp_other[i]
        return float((p.exp() * (p - q)).sum(-1).mean())

    true_bits = true_nats / n_targets * math.log2(math.e)
    shuf_bits = shuf_nats / n_targets * math.log2(math.e)
    return {
        "nll_true_bits": true_bits,
        "nll_shuffled_bits": shuf_bits,
        "nll_gap_bits": shuf_bits - true_bits,
        "kl_opposite_nats": kl(opp),
        "kl_same_nats": kl(same),
        "pairs_opposite": len(opp),
        "pairs_same": len(same),
    }


def _baseline(model, frames, audio, emotions, seed: int) -> dict[str, Any]:
    v = model.encoder.embed(frames)
    n = audio.shape[1]
    out_true = model.generate(v, n)
    perm = derangement(len(emotions), seed)
    out_shuf = model.generate(v[perm], n)
    opp, _ = opposite_pairs(emotions, seed)
    l1_true = float(F.l1_loss(out_true, audio))
    l1_shuf = float(F.l1_loss(out_shuf, audio))
    diff = float(np.mean([float((out_true[i] - out_true[j]).abs().mean()) for i, j in opp])) if opp else None
    return {
        "l1_true": l1_true,
        "l1_shuffled": l1_shuf,
        "l1_gap": l1_shuf - l1_true,
        "output_diff_opposite": diff,
        "output_rms": float(out_true.pow(2).mean().sqrt()),
    }


def verdict(d: dict[str, Any]) -> str:
    """One plain sentence on whether the model uses the scene."""
    if d["model"] == "scene2wav":
        gap = d["nll_gap_bits"]
        if gap > GAP_NEGLIGIBLE_BITS:
            return (
                f"the condition is used: another scene's condition costs {gap:.3f} bits per sample "
                f"({d['nll_true_bits']:.3f} -> {d['nll_shuffled_bits']:.3f})"
            )
        return (
            f"the condition is NOT used: with another scene's condition the NLL changes by {gap:+.4f} bits per "
            f"sample (< {GAP_NEGLIGIBLE_BITS}); the audio does not depend on the scene"
        )
    gap = d["l1_gap"]
    if gap > 1e-3:
        return f"the embedding matters: another scene's embedding raises the L1 by {gap:.4f}"
    return f"the embedding does NOT matter: another scene's embedding changes the L1 by {gap:+.5f}"


@torch.no_grad()
def diagnose(
    checkpoint: str | Path,
    data_dir: str | Path,
    split: str = "val",
    clips: int = 16,
    seconds: float = 1.0,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    from .checkpoint import load_model
    from .data.dataset import SpliceDataset
    from .generate import resolve_device

    if clips < 2:
        raise UsageError(f"at least 2 clips are needed to swap conditions, got {clips}")
    if seconds <= 0:
        raise UsageError(f"seconds must be positive, got {seconds}")
    dev = resolve_device(device)
    model, cfg, meta = load_model(checkpoint, device=dev)
    kind = meta["kind"]
    if kind not in ("scene2wav", "baseline"):
        raise UsageError(f"a {kind!r} checkpoint has no condition to diagnose", checkpoint)
    ds = SpliceDataset(data_dir, split)
    idx = _clips(ds, clips, seed)
    if len(idx) < 2:
        raise DataError(f"split {split!r} has {len(idx)} clip(s); 2 or more are needed", data_dir)
    emotions = [str(ds.samples["emotion"].iloc[i]) for i in idx]
    items = [ds[i] for i in idx]
    frames = torch.stack([it["frames"] for it in items]).to(dev)
    n = min(int(round(seconds * cfg.data.sample_rate)), items[0]["audio"].shape[0])
    audio = torch.stack([it["audio"][:n] for it in items]).to(dev)
    if kind == "scene2wav":
        stats = _scene2wav(model, cfg, frames, audio, emotions, seed)
    else:
        stats = _baseline(model, frames, audio, emotions, seed)
    out = {
        "model": kind,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": sha256_file(checkpoint),
        "preset": cfg.preset,
        "data": str(data_dir),
        "split": split,
        "clips": len(idx),
        "emotions": {e: emotions.count(e) for e in sorted(set(emotions))},
        "seconds": n / cfg.data.sample_rate,
        "seed": seed,
        **stats,
    }
    out["verdict"] = verdict(out)
    out["provenance"] = provenance(command="s2w-models diagnose", seeds={"diagnose": seed})
    return out


def rows(d: dict[str, Any]) -> list[list[Any]]:
    """(measure, value, meaning) rows for printing."""
    if d["model"] == "scene2wav":
        spec = [
            ("nll_true_bits", "NLL with each clip's own condition (bits/sample)"),
            ("nll_shuffled_bits", "NLL with another clip's condition (bits/sample)"),
            ("nll_gap_bits", "shuffled - true: what the scene is worth"),
            ("kl_opposite_nats", "KL between outputs for opposite-emotion scenes, same audio (nats/sample)"),
            ("kl_same_nats", "KL between outputs for same-emotion scenes, same audio (nats/sample)"),
        ]
    else:
        spec = [
            ("l1_true", "L1 of the output from the clip's own video"),
            ("l1_shuffled", "L1 with another clip's embedding"),
            ("l1_gap", "shuffled - true"),
            ("output_diff_opposite", "mean |difference| of outputs for opposite-emotion scenes"),
            ("output_rms", "rms of the output"),
        ]
    out = []
    for key, meaning in spec:
        value = d.get(key)
        out.append([key, "n/a" if value is None else f"{value:.4g}", meaning])
    return out
