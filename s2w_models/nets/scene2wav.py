"""Scene2Wav = visual encoder (CNN + GRU/LSTM) -> embedding v -> conditional SampleRNN.

`Scene2Wav(cfg).embed(frames) -> v` respects the configuration: with `samplernn.freeze_encoder` the encoder has
no gradient; `samplernn.encoder_mode = "eval"` (default) keeps its BatchNorm/dropout in inference mode, so v is
deterministic; "train" is the authors' (BN batch statistics and dropout 0.2 active, v stochastic, spec 4.7).
`model.train()` never switches an "eval"-mode encoder to train mode.

Standardised condition (`samplernn.standardize_v`, default on; the authors' code: off): `embed` returns
(v - v_mean) / v_std per dimension, with the statistics of the training clips' embeddings measured once when
the scene2wav stage starts (`set_v_stats`) and stored with the weights (buffers `v_mean`, `v_std`; identity
until set). Why: a frozen encoder trained only through the baseline's waveform loss (or not at all) gives
embeddings whose scene-to-scene differences are ~1 % of their magnitude (measured: 0.005 on values of ~0.2
for a warm/bright and a cool/dark scene), so through the h0 projection the condition barely moves the decoder
and it learns to ignore it; standardised, every dimension that varies across scenes varies by ~1.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from .encoder import SequenceEncoder
from .samplernn import ConditionalSampleRNN


class Scene2Wav(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        d = cfg.data
        self.encoder = SequenceEncoder(cfg.encoder, cfg.cnn, d.frames_per_clip, d.image_size)
        cond = self.encoder.v_dim if cfg.samplernn.conditioning != "none" else 0
        self.samplernn = ConditionalSampleRNN(cfg.samplernn, cond_dim=cond)
        if cfg.samplernn.freeze_encoder:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
        v_dim = self.encoder.v_dim
        self.register_buffer("v_mean", torch.zeros(v_dim))
        self.register_buffer("v_std", torch.ones(v_dim))
        self.train()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the statistics existed load as the identity (what they were trained with)
        for name, fill in (("v_mean", 0.0), ("v_std", 1.0)):
            state_dict.setdefault(prefix + name, torch.full_like(getattr(self, name), fill))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def set_v_stats(self, v: torch.Tensor, floor: float = 1e-4) -> None:
        """Store the per-dimension mean and std of training embeddings v (N, v_dim) (N >= 2)."""
        v = v.detach().float()
        self.v_mean.copy_(v.mean(0))
        self.v_std.copy_(v.std(0, unbiased=False).clamp_min(floor))

    def train(self, mode: bool = True) -> Scene2Wav:
        super().train(mode)
        if self.cfg.samplernn.encoder_mode == "eval":
            self.encoder.eval()
        return self

    def decoder_parameters(self):
        return [p for p in self.samplernn.parameters() if p.requires_grad]

    def encoder_parameters(self):
        return [p for p in self.encoder.parameters() if p.requires_grad]

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, F, 3, H, W) -> v (B, v_dim); no graph when the encoder is frozen."""
        if self.cfg.samplernn.freeze_encoder:
            with torch.no_grad():
                return self.standardize(self.encoder.embed(frames))
        return self.standardize(self.encoder.embed(frames))

    def standardize(self, v: torch.Tensor) -> torch.Tensor:
        if not getattr(self.cfg.samplernn, "standardize_v", False):
            return v
        return (v - self.v_mean.to(v.dtype)) / self.v_std.to(v.dtype)

    def forward(self, input_codes: torch.Tensor, state, v: torch.Tensor | None):
        return self.samplernn(input_codes, state, v)
