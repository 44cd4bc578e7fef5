"""ConvSeq2Seq baseline (spec section 3): CNN + sequence encoder + GRU/LSTM decoder emitting `step` (8) samples
per decoder step; its initial state is the encoder's final state.

Honest by default: `generate(v, n_samples)` decodes from the video alone, feeding back its own previous output
(step 0 is fed zeros). Training modes (`BaselineConfig.decoder_input`):
- "autoregressive" (default): the decoder is fed its own previous output during training too (free running,
  back-propagated through the whole sequence), exactly what `generate` does;
- "shifted": teacher forcing on the previous ground-truth step (causal);
- "leaky_unshifted": the authors' code (bug B1): the decoder input at step t is the target step t itself, so
  its output depends on the answer. A named training option only; `generate` never looks at target audio.
With a teacher-forced mode, `input_dropout` p (beyond the paper) zeroes each step's input with probability p in
training: teacher-forced, the decoder needs the scene only for its first step (the audio tells it the rest) and
plays one chord for every scene; with inputs dropped it must keep the scene in its state (a zeroed step is also
what generation feeds at step 0).
Output activation: tanh (default, audio in [-1, 1]) or relu (the authors', a non-negative waveform, B2).
Loss: L1 on waveform samples in [-1, 1] (the authors' used raw int16 values, so their numbers are 32768x ours).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import BaselineConfig, CNNConfig, EncoderConfig
from .encoder import SequenceEncoder


class ConvSeq2Seq(nn.Module):
    def __init__(
        self,
        cfg: BaselineConfig | None = None,
        encoder_cfg: EncoderConfig | None = None,
        cnn_cfg: CNNConfig | None = None,
        frames_per_clip: int = 30,
        image_size: int = 100,
    ):
        super().__init__()
        cfg = cfg or BaselineConfig()
        self.cfg = cfg
        self.encoder = SequenceEncoder(encoder_cfg, cnn_cfg, frames_per_clip, image_size)
        ecfg = self.encoder.cfg
        rnn = nn.GRU if ecfg.cell == "gru" else nn.LSTM
        self.decoder = rnn(cfg.step, ecfg.hidden, ecfg.layers, batch_first=True)
        self.out = nn.Linear(ecfg.hidden, cfg.step)

    def _activate(self, y: torch.Tensor) -> torch.Tensor:
        if self.cfg.output_activation == "tanh":
            return torch.tanh(y)
        if self.cfg.output_activation == "relu":
            return torch.relu(y)
        return y

    def _steps(self, n_samples: int) -> int:
        return -(-n_samples // self.cfg.step)

    def decode_free(self, state, n_steps: int) -> torch.Tensor:
        """Autoregressive decoding from an encoder state: (B, n_steps * step)."""
        h = state
        b = (state if torch.is_tensor(state) else state[0]).shape[1]
        ref = state if torch.is_tensor(state) else state[0]
        x = ref.new_zeros(b, 1, self.cfg.step)
        outs = []
        for _ in range(n_steps):
            o, h = self.decoder(x, h)
            x = self._activate(self.out(o))
            outs.append(x)
        return torch.cat(outs, dim=1).reshape(b, -1)

    def forward(
        self, frames: torch.Tensor, audio: torch.Tensor | None = None, decoder_input: str | None = None
    ) -> torch.Tensor:
        """Training forward: frames (B, F, 3, H, W), audio (B, L) target -> prediction (B, L)."""
        mode = decoder_input or self.cfg.decoder_input
        _, state = self.encoder.encode(frames)
        b, n = audio.shape
        steps = self._steps(n)
        if mode == "autoregressive":
            return self.decode_free(state, steps)[:, :n]
        tgt = audio.reshape(b, steps, self.cfg.step)
        if mode == "shifted":
            inp = torch.cat([tgt.new_zeros(b, 1, self.cfg.step), tgt[:, :-1]], dim=1)
        elif mode == "leaky_unshifted":
            inp = tgt
        else:
            raise ValueError(f"unknown decoder_input {mode!r}")
        if self.training and self.cfg.input_dropout > 0:
            keep = torch.rand(b, steps, 1, device=inp.device) >= self.cfg.input_dropout
            inp = inp * keep.to(inp.dtype)
        o, _ = self.decoder(inp, state)
        return self._activate(self.out(o)).reshape(b, -1)

    @torch.no_grad()
    def generate(self, v: torch.Tensor, n_samples: int) -> torch.Tensor:
        """From the video alone: v (B, v_dim) from `encoder.embed(frames)` -> waveform (B, n_samples)."""
        state = self.encoder.state_from_v(v)
        return self.decode_free(state, self._steps(n_samples))[:, :n_samples]

    @torch.no_grad()
    def generate_from_frames(self, frames: torch.Tensor, n_samples: int) -> torch.Tensor:
        return self.generate(self.encoder.embed(frames), n_samples)
