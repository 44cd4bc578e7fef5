"""Fast incremental ancestral sampler for the (conditional) SampleRNN.

The authors' generator (spec section 5) runs one Python step per audio sample and pushes every tier through
its full training module on each call, recomputing weight norm every time. This sampler produces the same
distribution per step (the same model, in float32) with far less work (benchmarks/bench_generate.py measures it):

- weights are *folded* once: weight norm becomes plain weights, the upsampling transposed convolutions become
  one matrix per tier, and the sample-level MLP's input layer (an embedding followed by a 16-tap convolution)
  becomes 16 tables of Q x dim rows, so its 4.2 M multiply-adds per sample become one `embedding_bag` sum;
- each frame tier runs only when its frame completes, and its upsampled outputs for that frame are computed
  once (one matrix product) and indexed per step;
- all clips of a batch are sampled together, under `torch.inference_mode`;
- sampling is exact ancestral sampling (Gumbel-max over the tempered, optionally top-k-restricted logits)
  with one random stream per clip, so a clip's audio depends on its own seed, not on the batch it was in.

`FoldedSampleRNN` holds plain tensors only; `s2w_models.generate.fold_samplernn` builds one from a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F


@dataclass
class FoldedTier:
    """One frame-level tier, weights folded for inference.

    Every `n_frame_samples` samples: x = frame @ w_in + b_in (+ the tier above's conditioning vector),
    then the GRU layers; its k-th upsampled vector (k < frame_size) is up[k] = h @ w_up[k] + b_up[k], computed
    when the tier below (or the MLP) needs it: each is used exactly once, and one (dim x dim) block at a time
    stays in cache where the whole (dim x frame_size*dim) product would stream from memory.
    """

    n_frame_samples: int
    frame_size: int
    w_in: torch.Tensor  # (n_frame_samples, dim)
    b_in: torch.Tensor  # (dim,)
    layers: list[
        tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
    ]  # GRU (w_ih, w_hh, b_ih, b_hh)
    w_up: torch.Tensor  # (frame_size, dim, dim): the transposed convolution's tap k as (in, out)
    b_up: torch.Tensor  # (frame_size, dim)
    cond_dim: int = 0  # > 0: every GRU layer reads [x, v] (v inside every gate, the paper's Eq. 12)

    @property
    def dim(self) -> int:
        return int(self.b_in.shape[0])

    @property
    def n_layers(self) -> int:
        return len(self.layers)


@dataclass
class FoldedSampleRNN:
    """A SampleRNN as plain tensors: frame tiers (top first) and the sample-level MLP."""

    tiers: list[FoldedTier]
    frame_table: torch.Tensor  # (Q,): the value a code takes as frame-tier input (dequantised)
    mlp_table: torch.Tensor  # (taps * Q, dim): embedding @ input-conv tap j, row j*Q + code
    mlp_taps: int
    mlp_hidden: list[tuple[torch.Tensor, torch.Tensor]]  # [(w (out, in), b)], ReLU after each
    mlp_out: tuple[torch.Tensor, torch.Tensor]  # logits layer (Q, dim), (Q,)
    q_levels: int
    q_zero: int
    extra: dict = field(default_factory=dict)

    @property
    def lookback(self) -> int:
        return self.tiers[0].n_frame_samples

    @property
    def hop(self) -> int:
        """Generated lengths must be a multiple of this (the top tier's frame)."""
        return self.tiers[0].n_frame_samples

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> FoldedSampleRNN:
        """Move (and optionally cast the matrices of) the folded model."""

        def mv(t: torch.Tensor) -> torch.Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        tiers = [
            replace(
                t,
                w_in=mv(t.w_in),
                b_in=mv(t.b_in),
                layers=[tuple(mv(w) for w in layer) for layer in t.layers],
                w_up=mv(t.w_up),
                b_up=mv(t.b_up),
            )
            for t in self.tiers
        ]
        return replace(
            self,
            tiers=tiers,
            frame_table=mv(self.frame_table),
            mlp_table=mv(self.mlp_table),
            mlp_hidden=[(mv(w), mv(b)) for w, b in self.mlp_hidden],
            mlp_out=(mv(self.mlp_out[0]), mv(self.mlp_out[1])),
        )

    def n_weights(self) -> dict[str, int]:
        """Weights read per sample step, amortised (for the memory-bandwidth floor)."""
        per_step = 0.0
        total = 0
        for t in self.tiers:
            n = t.w_in.numel() + t.w_up.numel() + sum(w.numel() for layer in t.layers for w in layer[:2])
            total += n
            per_step += n / t.n_frame_samples
        mlp = sum(w.numel() for w, _ in self.mlp_hidden) + self.mlp_out[0].numel()
        total += mlp + self.mlp_table.numel()
        per_step += mlp + self.mlp_taps * self.mlp_table.shape[1]  # the rows looked up
        return {"total": int(total), "per_step": int(per_step)}


@contextmanager
def cpu_threads(n: int | None):
    """Temporarily run torch's CPU ops on `n` intra-op threads (None: unchanged)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def small_work_threads(width: int, batch: int) -> int | None:
    """1 thread when a step's matrices (batch x width x width) are too small to share out, else None."""
    return 1 if batch * width * width < (1 << 21) else None


def clip_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    gens = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(s))
        gens.append(g)
    return gens


def _gumbel_block(gens: Sequence[torch.Generator], steps: int, width: int, device, dtype) -> torch.Tensor:
    """(steps, B, width) Gumbel noise, each clip from its own stream (batch-independent)."""
    cols = [torch.rand((steps, width), generator=g, device=g.device, dtype=torch.float32) for g in gens]
    u = torch.stack(cols, dim=1).to(device=device, dtype=dtype)
    return -torch.log(-torch.log(u.clamp_(1e-12, 1.0 - 1e-7)))


def sample_logits(
    logits: torch.Tensor, gumbel: torch.Tensor, temperature: float, top_k: int | None
) -> torch.Tensor:
    """Exact ancestral sampling by Gumbel-max: argmax(logits / T + G) draws from softmax(logits / T).

    With `top_k`, the draw is restricted to the k most likely codes (renormalised). temperature <= 0 is greedy.
    """
    if temperature <= 0:
        return logits.argmax(dim=-1)
    z = logits / temperature if temperature != 1.0 else logits
    if top_k is not None and 0 < top_k < z.shape[-1]:
        vals, idx = torch.topk(z, top_k, dim=-1)
        pick = (vals + gumbel[:, :top_k]).argmax(dim=-1, keepdim=True)
        return idx.gather(-1, pick).squeeze(-1)
    return (z + gumbel).argmax(dim=-1)


@dataclass
class SampleResult:
    codes: torch.Tensor  # (B, L) int64
    logp: torch.Tensor | None = None  # (B, L) log-probability of each drawn code under the untempered model


def sample(
    model: FoldedSampleRNN,
    h0: Sequence[torch.Tensor],
    length: int,
    seeds: Sequence[int],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    block: int = 256,
    return_logp: bool = False,
    forced: torch.Tensor | None = None,
    progress: Callable[[int], None] | None = None,
    v: torch.Tensor | None = None,
    threads: int | None = None,
) -> SampleResult:
    """Draw `length` codes for each of B clips.

    h0: the initial GRU state of each tier, top first, each (n_layers, B, dim) (the conditioning).
    seeds: one per clip. forced: (B, length) codes to feed instead of sampling (teacher forcing, for checks;
    logp is then the model's log-probability of the forced codes). progress(n) is called with the number of
    new samples per clip after every block. v: (B, cond_dim), needed when a tier is conditioned in its gates.
    threads: intra-op CPU threads while sampling (default: 1 when a step's matrices are too small to share out,
    where thread synchronisation costs more than it saves, especially on a busy machine; else torch's setting).
    """
    if threads is None:
        threads = small_work_threads(model.tiers[-1].dim, len(seeds))
    if model.mlp_table.device.type != "cpu":
        threads = None
    with cpu_threads(threads):
        return _sample(model, h0, length, seeds, temperature, top_k, block, return_logp, forced, progress, v)


def _sample(
    model, h0, length, seeds, temperature, top_k, block, return_logp, forced, progress, v
) -> SampleResult:
    if length % model.hop:
        raise ValueError(f"length {length} is not a multiple of the top tier's frame ({model.hop})")
    bsz = len(seeds)
    device = model.mlp_table.device
    dtype = model.mlp_table.dtype
    lb = model.lookback
    q = model.q_levels
    taps = model.mlp_taps
    with torch.inference_mode():
        buf = torch.full((bsz, lb + length), model.q_zero, dtype=torch.long, device=device)
        hidden = [
            [h[layer].to(device=device, dtype=dtype).contiguous() for layer in range(h.shape[0])] for h in h0
        ]
        for h, t in zip(hidden, model.tiers, strict=True):
            if len(h) != t.n_layers or h[0].shape != (bsz, t.dim):
                raise ValueError(
                    f"h0 of a tier must be ({t.n_layers}, {bsz}, {t.dim}); got ({len(h)}, {tuple(h[0].shape)})"
                )
        if any(t.cond_dim for t in model.tiers):
            if v is None or v.shape != (bsz, model.tiers[0].cond_dim):
                raise ValueError(
                    "this model is conditioned inside its GRU gates: pass v of shape (B, cond_dim)"
                )
            v = v.to(device=device, dtype=dtype)
        offsets = (torch.arange(taps, device=device) * q).unsqueeze(0)
        outs: list[torch.Tensor | None] = [None] * len(model.tiers)  # each tier's last GRU output
        gens = clip_generators(seeds) if forced is None else []
        logps = torch.empty((bsz, length), dtype=torch.float32, device=device) if return_logp else None
        w_out, b_out = model.mlp_out
        noise = None
        tiers = model.tiers
        n_tiers = len(tiers)
        last_fs = tiers[-1].frame_size
        for t in range(length):
            i = lb + t
            if forced is None and t % block == 0:
                noise = _gumbel_block(gens, min(block, length - t), q, device, torch.float32)
            for j in range(n_tiers):
                tier = tiers[j]
                nfs = tier.n_frame_samples
                if t % nfs:
                    continue
                frame = model.frame_table[buf[:, i - nfs : i]]
                x = torch.addmm(tier.b_in, frame, tier.w_in)
                if j:
                    up = tiers[j - 1]
                    k = (t // nfs) % up.frame_size
                    x = torch.addmm(x + up.b_up[k], outs[j - 1], up.w_up[k])
                hs = hidden[j]
                for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(tier.layers):
                    if tier.cond_dim:
                        x = torch.cat([x, v], dim=1)
                    x = torch.gru_cell(x, hs[layer], w_ih, w_hh, b_ih, b_hh)
                    hs[layer] = x
                outs[j] = x
            a = F.embedding_bag(buf[:, i - taps : i] + offsets, model.mlp_table, mode="sum")
            bottom = tiers[-1]
            k = t % last_fs
            a = torch.addmm(a + bottom.b_up[k], outs[-1], bottom.w_up[k])
            for w, b in model.mlp_hidden:
                a = F.relu(a)
                a = F.linear(a, w, b)
            a = F.relu(a)
            logits = F.linear(a, w_out, b_out).float()
            if forced is None:
                code = sample_logits(logits, noise[t % block], temperature, top_k)
            else:
                code = forced[:, t].to(device)
            buf[:, i] = code
            if logps is not None:
                logps[:, t] = torch.log_softmax(logits, dim=-1).gather(-1, code.unsqueeze(-1)).squeeze(-1)
            if progress is not None and (t + 1) % block == 0:
                progress(block)
        if progress is not None and length % block:
            progress(length % block)
        return SampleResult(buf[:, lb:].clone(), logps)
