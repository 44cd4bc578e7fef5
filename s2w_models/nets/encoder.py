"""Sequence encoder: CNN features of a clip's frames -> GRU/LSTM (2 x 128) -> final state = the embedding v.

API
- `SequenceEncoder.encode(frames) -> (v, state)`: frames (B, F, 3, H, W) float in [0, 1] (HSV);
  state = h (layers, B, hidden) for a GRU, (h, c) for an LSTM; v = the state flattened per clip,
  (B, layers * hidden) for a GRU and (B, 2 * layers * hidden) for an LSTM ([h, c]).
- `SequenceEncoder.embed(frames) -> v`.
- `state_from_v(v)` undoes the flattening (the baseline decoder starts from it).

`encoder_input`: "frames" = F steps of the 108 per-frame features (what the paper describes, D5);
"legacy_reshape" = the authors' raw reshape of the (F, 108) matrix to (108, F): 108 steps of F scrambled values
(bug B3), kept for faithfulness.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import CNNConfig, EncoderConfig
from .cnn import VisualCNN


class SequenceEncoder(nn.Module):
    def __init__(
        self,
        cfg: EncoderConfig | None = None,
        cnn_cfg: CNNConfig | None = None,
        frames_per_clip: int = 30,
        image_size: int = 100,
    ):
        super().__init__()
        cfg = cfg or EncoderConfig()
        self.cfg = cfg
        self.cnn = VisualCNN(cnn_cfg, image_size=image_size)
        self.frames_per_clip = frames_per_clip
        in_size = self.cnn.n_features if cfg.encoder_input == "frames" else frames_per_clip
        rnn = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = rnn(in_size, cfg.hidden, cfg.layers, batch_first=True)

    @property
    def v_dim(self) -> int:
        n = self.cfg.layers * self.cfg.hidden
        return n if self.cfg.cell == "gru" else 2 * n

    def sequence(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, H, W) -> the encoder's input sequence (B, steps, features)."""
        b, f = frames.shape[:2]
        feats = self.cnn.features(frames.reshape(b * f, *frames.shape[2:])).reshape(b, f, -1)
        if self.cfg.encoder_input == "legacy_reshape":
            if f != self.frames_per_clip:
                raise ValueError(f"legacy_reshape encoder built for {self.frames_per_clip} frames, got {f}")
            return feats.reshape(b, feats.shape[2], f)  # raw reshape, not a transpose (authors' B3)
        return feats

    def encode(self, frames: torch.Tensor):
        _, state = self.rnn(self.sequence(frames))
        if self.cfg.cell == "gru":
            v = state.transpose(0, 1).reshape(frames.shape[0], -1)
        else:
            h, c = state
            v = torch.cat(
                [
                    h.transpose(0, 1).reshape(frames.shape[0], -1),
                    c.transpose(0, 1).reshape(frames.shape[0], -1),
                ],
                dim=1,
            )
        return v, state

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encode(frames)[0]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.embed(frames)

    def state_from_v(self, v: torch.Tensor):
        b = v.shape[0]
        n = self.cfg.layers * self.cfg.hidden

        def unflat(x):
            return x.reshape(b, self.cfg.layers, self.cfg.hidden).transpose(0, 1).contiguous()

        if self.cfg.cell == "gru":
            return unflat(v)
        return unflat(v[:, :n]), unflat(v[:, n:])
