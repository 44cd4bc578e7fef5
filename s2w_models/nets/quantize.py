"""Audio quantisation for the SampleRNN: linear per clip (the authors', spec 4.4) and mu-law.

Codes are int64 in [0, Q). Three views of a code:
- `encode(x)` / `decode(codes)`: waveform in [-1, 1] <-> codes (what goes in and comes out of the model).
- `frame_input(codes, Q)`: the frame tiers' real-valued input, 2 * (q / (Q/2) - 1) in [-2, 2) (the factor 2 is
  inherited from the deepsound code; kept for faithfulness, identical for both quantisations).
- the sample-level MLP embeds the raw codes.

The authors wrote generated codes to wav without dequantising (bug B5); here `decode` always returns a waveform
centred on 0 in [-1, 1]. Linear quantisation is per clip (each clip stretched to the full range), so its exact
inverse needs the clip's (min, max); without them `decode` maps code q to q/(Q/2) - 1.
"""

from __future__ import annotations

import math

import torch


def q_zero(q_levels: int) -> int:
    """The code of silence (and of the 64-sample prefix): Q/2."""
    return q_levels // 2


def linear_quantize(x: torch.Tensor, q_levels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-clip linear quantisation over the last axis (spec 4.4), in float (no int16 overflow).

    q = floor((x - min) / (max - min) * (Q - 0.01) + 0.005). A constant clip (max == min) gives q_zero.
    Returns (codes int64, lo, hi) with lo/hi of shape x.shape[:-1] (keep them to invert exactly).
    """
    x = x.to(torch.float64)
    lo = x.amin(dim=-1, keepdim=True)
    hi = x.amax(dim=-1, keepdim=True)
    span = hi - lo
    safe = torch.where(span > 0, span, torch.ones_like(span))
    q = torch.floor((x - lo) / safe * (q_levels - 0.01) + 0.005).long()
    q = torch.where(span > 0, q, torch.full_like(q, q_zero(q_levels)))
    return q.clamp_(0, q_levels - 1), lo.squeeze(-1).float(), hi.squeeze(-1).float()


def linear_dequantize(
    codes: torch.Tensor, q_levels: int, lo: torch.Tensor | None = None, hi: torch.Tensor | None = None
) -> torch.Tensor:
    """Inverse of `linear_quantize` (to the centre of each level); without lo/hi: q/(Q/2) - 1 in [-1, 1)."""
    c = codes.to(torch.float32)
    if lo is None or hi is None:
        return c / (q_levels / 2) - 1.0
    lo = lo.to(torch.float32).unsqueeze(-1)
    hi = hi.to(torch.float32).unsqueeze(-1)
    return lo + (c + 0.5 - 0.005) / (q_levels - 0.01) * (hi - lo)


def mulaw_quantize(x: torch.Tensor, q_levels: int) -> torch.Tensor:
    """mu-law companding (mu = Q - 1) of x in [-1, 1] to codes 0..Q-1 (rounded)."""
    mu = q_levels - 1
    x = x.to(torch.float64).clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.floor((y + 1.0) / 2.0 * mu + 0.5).long().clamp_(0, q_levels - 1)


def mulaw_dequantize(codes: torch.Tensor, q_levels: int) -> torch.Tensor:
    mu = q_levels - 1
    y = codes.to(torch.float64) / mu * 2.0 - 1.0
    x = torch.sign(y) * ((1.0 + mu) ** y.abs() - 1.0) / mu
    return x.to(torch.float32)


def frame_input(codes: torch.Tensor, q_levels: int) -> torch.Tensor:
    """The frame tiers' input scale: 2 * (q / (Q/2) - 1) (spec 4.4)."""
    return 2.0 * (codes.to(torch.float32) / (q_levels / 2) - 1.0)


class Quantizer:
    """`kind` = "linear" (per clip) or "mulaw"; `encode(audio) -> codes`, `decode(codes) -> audio in [-1, 1]`."""

    def __init__(self, kind: str, q_levels: int):
        if kind not in ("linear", "mulaw"):
            raise ValueError(f"unknown quantisation {kind!r}")
        self.kind = kind
        self.q_levels = q_levels

    @property
    def zero(self) -> int:
        return q_zero(self.q_levels)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        if self.kind == "linear":
            return linear_quantize(audio, self.q_levels)[0]
        return mulaw_quantize(audio, self.q_levels)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        if self.kind == "linear":
            return linear_dequantize(codes, self.q_levels)
        return mulaw_dequantize(codes, self.q_levels)

    def __repr__(self) -> str:
        return f"Quantizer({self.kind!r}, {self.q_levels})"
