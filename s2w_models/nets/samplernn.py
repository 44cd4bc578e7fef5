"""Conditional SampleRNN, the Scene2Wav decoder (spec section 4), re-built on current PyTorch.

Layout (frame_sizes [16, 4] = the authors' `--frame_sizes 16 4`):
- `tiers[0]` (lower, "tier 2"): one step per 16 samples (`n_frame_samples` 16), upsampled x16 (`frame_size`)
  to one conditioning vector per sample;
- `tiers[-1]` (top, "tier 3"): one step per 64 samples, upsampled x4 to one vector per lower-tier frame;
- `mlp`: sample-level MLP over the previous 16 codes (embedded) + the lower tier's vector -> log-probs over Q.
`lookback` = samples per top frame (64) = the prefix of q_zero codes every clip starts with.

Conditioning on the visual embedding v (B, cond_dim) (`SampleRNNConfig.conditioning`):
- "h0": v -> Linear(cond_dim, n_rnn * dim) = the initial hidden state of BOTH frame tiers (authors' code);
- "gates": the paper's Eq. 12: W_v v added inside the r, z and n gates of every GRU layer of every frame tier at
  every step. Implemented by `ConditionalGRU`: each layer's input is [x_t, v], so its input weights are
  [W_ih | W_v] and W_v v enters all three gates outside the reset product (exactly Eq. 12);
- "both"; "none" (unconditional: learned h0).
Without "h0" conditioning (or with v=None) the tiers start from their learned h0.

Incremental sampling API (used by s2w_models.generate):
    state = model.initial_state(v, batch)               # list per tier of (n_rnn, B, dim)
    cond, state[i] = model.tiers[i].step(x, upper, state[i], v)
        x: (B, n_frame_samples) = frame_input(previous codes), upper: (B, dim) or None (top tier)
        -> cond (B, frame_size, dim): one vector per next-lower-tier frame (or per sample for tiers[0])
    logits = model.mlp.step(codes (B, frame_sizes[0]) previous codes, cond (B, dim))   # (B, Q), unnormalised
    model.fold_weight_norm()                             # inference: plain weights, no per-call recomputation
    model.mlp.precompute_tables()                        # inference: the embedding x input-conv lookup tables
Quantisation: `model.quantizer.encode/decode`, `s2w_models.nets.quantize.frame_input`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from ..config import SampleRNNConfig
from .quantize import Quantizer, frame_input

LOG2E = math.log2(math.e)


def lecun_uniform_(w: torch.Tensor, fan_in: int) -> torch.Tensor:
    bound = math.sqrt(3.0 / fan_in)
    with torch.no_grad():
        return w.uniform_(-bound, bound)


def _wn(module: nn.Module, enabled: bool) -> nn.Module:
    return _weight_norm(module, name="weight", dim=0) if enabled else module


class ConditionalGRU(nn.Module):
    """`n_rnn` stacked GRU layers; with `cond_dim` > 0 each layer also reads v at every step (paper Eq. 12).

    Layer l computes r, z, n from W_ih [x_t, v] + b_ih and W_hh h_{t-1} + b_hh, i.e. W_v v is added inside
    every gate. Initialisation as the authors' (spec 4.3): input blocks LeCun-uniform, recurrent r/z blocks
    LeCun-uniform and n block orthogonal, biases 0 (the v columns LeCun-uniform over cond_dim).
    """

    def __init__(self, dim: int, n_rnn: int, cond_dim: int = 0):
        super().__init__()
        self.dim, self.n_rnn, self.cond_dim = dim, n_rnn, cond_dim
        self.layers = nn.ModuleList(nn.GRU(dim + cond_dim, dim, 1, batch_first=True) for _ in range(n_rnn))
        for gru in self.layers:
            with torch.no_grad():
                for k in range(3):
                    rows = slice(k * dim, (k + 1) * dim)
                    lecun_uniform_(gru.weight_ih_l0[rows, :dim], dim)
                    if cond_dim:
                        lecun_uniform_(gru.weight_ih_l0[rows, dim:], cond_dim)
                    if k < 2:
                        lecun_uniform_(gru.weight_hh_l0[rows], dim)
                    else:
                        nn.init.orthogonal_(gru.weight_hh_l0[rows])
                gru.bias_ih_l0.zero_()
                gru.bias_hh_l0.zero_()

    def forward(self, x: torch.Tensor, h: torch.Tensor, v: torch.Tensor | None = None):
        """x (B, T, dim), h (n_rnn, B, dim), v (B, cond_dim) -> (out (B, T, dim), h (n_rnn, B, dim))."""
        if self.cond_dim:
            if v is None:
                raise ValueError("this GRU is conditioned inside its gates: pass v")
            vx = v.to(x.dtype).unsqueeze(1).expand(x.shape[0], x.shape[1], self.cond_dim)
        hs = []
        for i, gru in enumerate(self.layers):
            inp = torch.cat([x, vx], dim=-1) if self.cond_dim else x
            x, hi = gru(inp, h[i : i + 1].contiguous())
            hs.append(hi)
        return x, torch.cat(hs, dim=0)


class LearnedUpsampling(nn.Module):
    """ConvTranspose1d(dim, dim, kernel = stride = r, no bias, weight-normalised) + a learned (dim, r) bias."""

    def __init__(self, dim: int, r: int, weight_norm: bool = True):
        super().__init__()
        self.r = r
        conv = nn.ConvTranspose1d(dim, dim, r, stride=r, bias=False)
        bound = math.sqrt(6.0 / dim)
        nn.init.uniform_(conv.weight, -bound, bound)
        self.conv = _wn(conv, weight_norm)
        self.bias = nn.Parameter(torch.zeros(dim, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, dim) -> (B, T * r, dim)."""
        b, t, d = x.shape
        w = self.conv.weight  # (dim_in, dim_out, r)
        y = torch.matmul(x, w.reshape(d, -1))  # (B, T, dim_out * r)
        y = y.reshape(b, t, d, self.r) + self.bias.to(y.dtype)
        return y.transpose(2, 3).reshape(b, t * self.r, d)


class FrameTier(nn.Module):
    """One frame-level tier: input_expand (per-frame linear, WN) + upper conditioning -> GRU -> upsampling."""

    def __init__(
        self,
        frame_size: int,
        n_frame_samples: int,
        dim: int,
        n_rnn: int,
        learn_h0: bool = True,
        weight_norm: bool = True,
        gate_cond_dim: int = 0,
    ):
        super().__init__()
        self.frame_size = frame_size
        self.n_frame_samples = n_frame_samples
        self.dim = dim
        self.n_rnn = n_rnn
        expand = nn.Conv1d(n_frame_samples, dim, 1)
        nn.init.kaiming_uniform_(expand.weight)
        nn.init.zeros_(expand.bias)
        self.input_expand = _wn(expand, weight_norm)
        self.rnn = ConditionalGRU(dim, n_rnn, gate_cond_dim)
        if learn_h0:
            self.h0 = nn.Parameter(torch.zeros(n_rnn, dim))
        else:
            self.register_buffer("h0", torch.zeros(n_rnn, dim))
        self.upsampling = LearnedUpsampling(dim, frame_size, weight_norm)

    def forward(
        self,
        prev_samples: torch.Tensor,
        upper: torch.Tensor | None,
        h: torch.Tensor,
        v: torch.Tensor | None = None,
    ):
        """prev_samples (B, T, n_frame_samples) in frame-input scale, upper (B, T, dim) or None,
        h (n_rnn, B, dim) -> (conditioning (B, T * frame_size, dim), h)."""
        w = self.input_expand.weight.squeeze(-1)
        x = F.linear(prev_samples.to(w.dtype), w, self.input_expand.bias)
        if upper is not None:
            x = x + upper
        out, h = self.rnn(x, h, v)
        return self.upsampling(out), h

    def step(
        self,
        prev_samples: torch.Tensor,
        upper: torch.Tensor | None,
        h: torch.Tensor,
        v: torch.Tensor | None = None,
    ):
        """One frame: prev_samples (B, n_frame_samples), upper (B, dim) or None -> ((B, frame_size, dim), h)."""
        return self.forward(prev_samples.unsqueeze(1), None if upper is None else upper.unsqueeze(1), h, v)


class SampleLevelMLP(nn.Module):
    """Embedding(Q, Q) -> Conv1d(Q, dim, k=frame_size, no bias) + conditioning -> ReLU -> 1x1 -> ReLU -> 1x1 -> Q.

    The input convolution over embedded codes is computed as a sum of `frame_size` look-ups in tables
    T_k = E W_k^T (Q x dim), which is the same arithmetic as the convolution (the embedding is a table) but
    costs Q*Q*dim*k once per call instead of Q*dim*k per sample; `forward` picks it when cheaper.
    """

    def __init__(self, frame_size: int, dim: int, q_levels: int, weight_norm: bool = True):
        super().__init__()
        self.frame_size, self.dim, self.q_levels = frame_size, dim, q_levels
        self.embedding = nn.Embedding(q_levels, q_levels)
        inp = nn.Conv1d(q_levels, dim, frame_size, bias=False)
        nn.init.kaiming_uniform_(inp.weight)
        self.input = _wn(inp, weight_norm)
        hid = nn.Conv1d(dim, dim, 1)
        nn.init.kaiming_uniform_(hid.weight)
        nn.init.zeros_(hid.bias)
        self.hidden = _wn(hid, weight_norm)
        out = nn.Conv1d(dim, q_levels, 1)
        lecun_uniform_(out.weight, dim)
        nn.init.zeros_(out.bias)
        self.output = _wn(out, weight_norm)
        self._tables: torch.Tensor | None = None

    def input_tables(self) -> torch.Tensor:
        """(frame_size, Q, dim): T_k[q] = W[:, :, k] @ E[q]."""
        w = self.input.weight  # (dim, Q_emb, k)
        return torch.einsum("qe,dek->kqd", self.embedding.weight, w)

    def precompute_tables(self) -> None:
        """Inference: cache the tables (call after the weights are final; cleared by `clear_tables`)."""
        with torch.no_grad():
            self._tables = self.input_tables()

    def clear_tables(self) -> None:
        self._tables = None

    def _input_layer(self, codes: torch.Tensor, t: int) -> torch.Tensor:
        b = codes.shape[0]
        k, q = self.frame_size, self.q_levels
        use_tables = self._tables is not None or b * t > q
        if not use_tables:
            emb = self.embedding(codes).transpose(1, 2)  # (B, Q, T + k - 1)
            return F.conv1d(emb, self.input.weight).transpose(1, 2)
        tables = (
            self._tables if self._tables is not None and not torch.is_grad_enabled() else self.input_tables()
        )
        idx = codes.unfold(1, k, 1) + torch.arange(k, device=codes.device) * q  # (B, T, k)
        out = F.embedding_bag(idx.reshape(-1, k), tables.reshape(k * q, self.dim), mode="sum")
        return out.reshape(b, t, self.dim)

    def logits(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """codes (B, T + frame_size - 1) int64, cond (B, T, dim) -> logits (B, T, Q)."""
        t = cond.shape[1]
        x = self._input_layer(codes, t)
        x = F.relu(x.to(cond.dtype) + cond)
        hw = self.hidden.weight.squeeze(-1)
        x = F.relu(F.linear(x, hw.to(x.dtype), self.hidden.bias.to(x.dtype)))
        ow = self.output.weight.squeeze(-1)
        return F.linear(x, ow.to(x.dtype), self.output.bias.to(x.dtype))

    def forward(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, Q) in float32."""
        return F.log_softmax(self.logits(codes, cond).float(), dim=-1)

    def step(self, codes: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """codes (B, frame_size) = the previous codes, cond (B, dim) -> logits (B, Q) for the next sample."""
        return self.logits(codes, cond.unsqueeze(1))[:, 0]


class ConditionalSampleRNN(nn.Module):
    def __init__(self, cfg: SampleRNNConfig | None = None, cond_dim: int = 0):
        super().__init__()
        cfg = cfg or SampleRNNConfig()
        self.cfg = cfg
        self.frame_sizes = tuple(cfg.frame_sizes)
        self.q_levels = cfg.q_levels
        self.dim = cfg.dim
        self.n_rnn = cfg.n_rnn
        self.cond_dim = cond_dim
        ns, n = [], 1
        for f in self.frame_sizes:
            n *= f
            ns.append(n)
        self.lookback = ns[-1]
        gates = cfg.conditioning in ("gates", "both") and cond_dim > 0
        self.tiers = nn.ModuleList(
            FrameTier(f, nfs, cfg.dim, cfg.n_rnn, cfg.learn_h0, cfg.weight_norm, cond_dim if gates else 0)
            for f, nfs in zip(self.frame_sizes, ns)
        )
        self.mlp = SampleLevelMLP(self.frame_sizes[0], cfg.dim, cfg.q_levels, cfg.weight_norm)
        self.h0_proj = (
            nn.Linear(cond_dim, cfg.n_rnn * cfg.dim)
            if cfg.conditioning in ("h0", "both") and cond_dim > 0
            else None
        )
        self.gates = gates
        self.quantizer = Quantizer(cfg.quantization, cfg.q_levels)

    # ------------------------------------------------------------------ state
    def initial_state(self, v: torch.Tensor | None, batch_size: int | None = None) -> list[torch.Tensor]:
        """Per tier (n_rnn, B, dim): projected v (same tensor for both tiers, as the authors) or learned h0."""
        if self.h0_proj is not None and v is not None:
            b = v.shape[0]
            h = self.h0_proj(v).reshape(b, self.n_rnn, self.dim).transpose(0, 1).contiguous()
            return [h for _ in self.tiers]
        b = batch_size if batch_size is not None else (v.shape[0] if v is not None else 1)
        return [t.h0.unsqueeze(1).expand(self.n_rnn, b, self.dim).contiguous() for t in self.tiers]

    # ------------------------------------------------------------------ training forward (one TBPTT chunk)
    def forward(self, input_codes: torch.Tensor, state: list[torch.Tensor], v: torch.Tensor | None = None):
        """input_codes (B, lookback + T - 1) int64 -> (log-probs (B, T, Q) for codes lookback..lookback+T-1,
        new state). T must be a multiple of `lookback`."""
        b, n = input_codes.shape
        t = n - self.lookback + 1
        if t <= 0 or t % self.lookback:
            raise ValueError(f"chunk of {t} targets is not a positive multiple of {self.lookback}")
        gv = v if self.gates else None
        upper = None
        new_state: list[torch.Tensor] = [None] * len(self.tiers)  # type: ignore[list-item]
        for i in reversed(range(len(self.tiers))):
            tier = self.tiers[i]
            nfs = tier.n_frame_samples
            start = self.lookback - nfs
            x = frame_input(input_codes[:, start : start + t], self.q_levels).reshape(b, t // nfs, nfs)
            upper, new_state[i] = tier(x, upper, state[i], gv)
        k = self.frame_sizes[0]
        logp = self.mlp(input_codes[:, self.lookback - k : self.lookback + t - 1], upper)
        return logp, new_state

    @staticmethod
    def nll_bits(logp: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean NLL in bits per sample (authors' loss x log2 e)."""
        return F.nll_loss(logp.reshape(-1, logp.shape[-1]), target.reshape(-1)) * LOG2E

    # ------------------------------------------------------------------ inference helpers
    def fold_weight_norm(self) -> ConditionalSampleRNN:
        """Replace weight-normalised weights by plain ones (inference; do not train or save afterwards)."""
        for m in self.modules():
            if parametrize.is_parametrized(m, "weight"):
                parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        return self

    remove_weight_norm = fold_weight_norm
