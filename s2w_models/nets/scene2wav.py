"""Scene2Wav = visual encoder (CNN + GRU/LSTM) -> embedding v -> conditional SampleRNN.

`Scene2Wav(cfg).embed(frames) -> v` respects the configuration: with `samplernn.freeze_encoder` the encoder has
no gradient; `samplernn.encoder_mode = "eval"` (default) keeps its BatchNorm/dropout in inference mode, so v is
deterministic; "train" is the authors' (BN batch statistics and dropout 0.2 active, v stochastic, spec 4.7).
`model.train()` never switches an "eval"-mode encoder to train mode.
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
        self.train()

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
                return self.encoder.embed(frames)
        return self.encoder.embed(frames)

    def forward(self, input_codes: torch.Tensor, state, v: torch.Tensor | None):
        return self.samplernn(input_codes, state, v)
