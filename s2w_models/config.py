"""Configuration dataclasses for the Scene2Wav networks and their training, with the `paper` and `tiny` presets.

Every checkpoint stores `Config.to_dict()`; `Config.from_dict()` rebuilds it, so a checkpoint alone rebuilds its
model. Overrides are dotted `section.field=value` strings (`samplernn.dim=64`, `train.scene2wav.batch_size=4`).
Facts and defaults: the paper's sections 2-4 (paper preset); the tiny preset is ours (docs/models.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from s2w_eval.errors import UsageError

ENCODER_INPUTS = ("frames", "legacy_reshape")
CELLS = ("gru", "lstm")
CONDITIONINGS = ("h0", "gates", "both", "none")
QUANTIZATIONS = ("linear", "mulaw")
DECODER_INPUTS = ("autoregressive", "shifted", "leaky_unshifted")
OUTPUT_ACTIVATIONS = ("tanh", "relu", "none")
ENCODER_MODES = ("eval", "train")
STAGES = ("cnn", "encoder", "scene2wav")
OPTIMIZERS = ("adam", "asgd", "sgd")
SCHEDULERS = ("none", "plateau")


@dataclass
class DataConfig:
    """What the data looks like (filled from the dataset's `meta` at training time)."""

    seconds: float = 3.0
    fps: int = 10
    frames_per_clip: int = 30
    sample_rate: int = 16000
    audio_len: int = 48000
    image_size: int = 100
    # the dataset's label scheme (s2w_eval.vocab) and its classes; the CNN has one output per class
    labels: str = "valence2"
    classes: tuple[str, ...] = ("negative", "positive")


@dataclass
class CNNConfig:
    """Per-frame visual CNN (spec section 2): 3 conv blocks of 3 channels -> 3*6*6 = 108 features -> 2 classes."""

    in_channels: int = 3
    channels: int = 3
    dropout: float = 0.2
    n_classes: int = 2


@dataclass
class EncoderConfig:
    """Sequence encoder over per-frame CNN features (spec section 3)."""

    cell: str = "gru"
    hidden: int = 128
    layers: int = 2
    encoder_input: str = (
        "frames"  # "frames": F steps of 108 features; "legacy_reshape": the authors' raw reshape
    )


@dataclass
class BaselineConfig:
    """ConvSeq2Seq baseline decoder: GRU emitting `step` samples per step (spec section 3)."""

    step: int = 8
    output_activation: str = "tanh"  # "relu" is the authors' (non-negative waveform, bug B2)
    decoder_input: str = "autoregressive"  # honest default; "leaky_unshifted" = authors' teacher forcing (B1)
    # beyond the paper: with a teacher-forced decoder_input, each decoder step's input (`step` target samples:
    # the previous ones, the current ones with leaky_unshifted) is zeroed with this probability during training
    # ("word dropout", Bowman et al. 2016), so the decoder must carry the scene in its state: with 0 (the
    # paper's) it plays the same chord for every scene
    input_dropout: float = 0.0


@dataclass
class SampleRNNConfig:
    """Conditional SampleRNN (spec section 4)."""

    frame_sizes: tuple[int, ...] = (16, 4)
    dim: int = 1024
    n_rnn: int = 2
    q_levels: int = 256
    learn_h0: bool = True
    weight_norm: bool = True
    quantization: str = "linear"  # "linear" per clip (the authors'), or "mulaw"
    conditioning: str = "h0"  # "h0" (authors' code), "gates" (paper Eq. 12), "both", "none"
    train_projection: bool = True  # authors: False (projection left at its random init, bug B4)
    freeze_encoder: bool = True  # authors: True; the paper claims end-to-end fine-tuning (D3)
    encoder_mode: str = "eval"  # "train" = authors' (BN batch stats + dropout while frozen)
    standardize_v: bool = True  # v z-scored with the training embeddings' statistics; authors: False


@dataclass
class StageConfig:
    epochs: int = 20
    batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10  # early stopping: validations without improvement (0 = never stop early)
    max_steps: int = 0  # optimizer steps (0 = no limit)
    crop_samples: int = 0  # train on the first N audio samples of each clip (0 = whole clip)
    optimizer: str = "adam"  # adam | asgd (the paper's for the encoder) | sgd
    # SGD momentum, or Adam's beta1 when > 0 (0 = Adam's default 0.9). The paper states 0.98 for the CNN (Adam)
    # and the encoder (ASGD); the authors' code passes 0.98 but neither optimizer uses it, and ASGD has no
    # momentum at all (recorded, unused)
    momentum: float = 0.0
    scheduler: str = "none"  # "plateau": ReduceLROnPlateau on the validation loss, once per epoch
    plateau_factor: float = 0.8  # the paper's and the authors' factor
    plateau_patience: int = 10  # torch's default, as the authors' (who stepped it on the last batch's loss)


@dataclass
class TrainConfig:
    seed: int = 1234
    seq_len: int = 1024  # TBPTT chunk (SampleRNN)
    grad_clamp: float = 1.0  # element-wise gradient clamp (authors' hardtanh)
    ckpt_every: int = 200  # optimizer steps between periodic checkpoints (taken at the next batch boundary)
    max_val_clips: int = 0  # 0 = the whole validation split
    threads: int = 0  # torch intra-op threads (0 = torch's default); small models run faster on 1
    cnn: StageConfig = field(default_factory=lambda: StageConfig(epochs=40, batch_size=1, weight_decay=1e-4))
    encoder: StageConfig = field(
        default_factory=lambda: StageConfig(epochs=20, batch_size=1, weight_decay=1e-5)
    )
    scene2wav: StageConfig = field(
        default_factory=lambda: StageConfig(epochs=1000, batch_size=128, patience=5)
    )


@dataclass
class Config:
    preset: str = "paper"
    data: DataConfig = field(default_factory=DataConfig)
    cnn: CNNConfig = field(default_factory=CNNConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    samplernn: SampleRNNConfig = field(default_factory=SampleRNNConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        return _from_dict(cls, d)

    def copy(self) -> Config:
        return Config.from_dict(self.to_dict())

    def validate(self) -> Config:
        self._check_bounds()  # first: the checks below divide by some of these numbers
        _choice("encoder.cell", self.encoder.cell, CELLS)
        _choice("encoder.encoder_input", self.encoder.encoder_input, ENCODER_INPUTS)
        _choice("baseline.output_activation", self.baseline.output_activation, OUTPUT_ACTIVATIONS)
        _choice("baseline.decoder_input", self.baseline.decoder_input, DECODER_INPUTS)
        _choice("samplernn.conditioning", self.samplernn.conditioning, CONDITIONINGS)
        _choice("samplernn.quantization", self.samplernn.quantization, QUANTIZATIONS)
        _choice("samplernn.encoder_mode", self.samplernn.encoder_mode, ENCODER_MODES)
        if self.baseline.input_dropout and self.baseline.decoder_input == "autoregressive":
            raise UsageError(
                "baseline.input_dropout drops teacher-forced decoder inputs, but baseline.decoder_input is "
                "autoregressive (the decoder is fed its own output)",
                fix="add baseline.decoder_input=shifted, or leave baseline.input_dropout at 0",
            )
        top = self.top_frame
        if self.data.audio_len % self.baseline.step:
            raise UsageError(
                f"data.audio_len {self.data.audio_len} is not a multiple of baseline.step "
                f"{self.baseline.step}"
            )
        if self.train.seq_len % top:
            raise UsageError(
                f"train.seq_len {self.train.seq_len} is not a multiple of the top frame ({top} samples)",
                fix=f"use a multiple of {top}",
            )
        for name in STAGES:
            _choice(f"train.{name}.optimizer", getattr(self.train, name).optimizer, OPTIMIZERS)
            _choice(f"train.{name}.scheduler", getattr(self.train, name).scheduler, SCHEDULERS)
        for name in STAGES:
            crop = getattr(self.train, name).crop_samples
            if crop and crop % (top * self.baseline.step // _gcd(top, self.baseline.step)):
                raise UsageError(
                    f"train.{name}.crop_samples {crop} must be a multiple of {top} and {self.baseline.step}"
                )
        if self.samplernn.q_levels < 2 or self.samplernn.q_levels % 2:
            raise UsageError("samplernn.q_levels must be an even number >= 2")
        return self

    def _check_bounds(self) -> None:
        """Every number within a sane range (NaN refused): a typo is a usage error, not hours or gigabytes."""
        for name, (lo, hi) in _BOUNDS.items():
            section, _, key = name.rpartition(".")
            obj: Any = self
            for part in section.split("."):
                obj = getattr(obj, part)
            bounded(name, getattr(obj, key), lo, hi)
        for name in STAGES:
            for key, (lo, hi) in _STAGE_BOUNDS.items():
                bounded(f"train.{name}.{key}", getattr(getattr(self.train, name), key), lo, hi)
        if not self.samplernn.frame_sizes:
            raise UsageError("samplernn.frame_sizes is empty", fix="e.g. samplernn.frame_sizes=16,4")
        for f in self.samplernn.frame_sizes:
            bounded("samplernn.frame_sizes", f, 1, 4096)

    @property
    def top_frame(self) -> int:
        """Samples per frame of the top tier = the lookback (prefix) of the SampleRNN."""
        n = 1
        for f in self.samplernn.frame_sizes:
            n *= f
        return n


# (lowest, highest) accepted value of each numeric setting; `validate()` checks them all.
_BOUNDS: dict[str, tuple[float, float]] = {
    "data.seconds": (0.1, 600),
    "data.fps": (1, 120),
    "data.frames_per_clip": (1, 72_000),
    "data.sample_rate": (1_000, 192_000),
    "data.audio_len": (1, 600 * 192_000),
    "data.image_size": (8, 1024),
    "cnn.in_channels": (1, 16),
    "cnn.channels": (1, 4096),
    "cnn.dropout": (0, 0.99),
    "cnn.n_classes": (2, 1000),
    "encoder.hidden": (1, 65_536),
    "encoder.layers": (1, 64),
    "baseline.step": (1, 65_536),
    "baseline.input_dropout": (0, 0.99),
    "samplernn.dim": (1, 65_536),
    "samplernn.n_rnn": (1, 64),
    "samplernn.q_levels": (2, 65_536),
    "train.seed": (0, 2**63 - 1),
    "train.seq_len": (1, 10_000_000),
    "train.grad_clamp": (1e-12, 1e12),
    "train.ckpt_every": (1, 10**12),
    "train.max_val_clips": (0, 10**12),
    "train.threads": (0, 4096),
}
_STAGE_BOUNDS: dict[str, tuple[float, float]] = {
    "epochs": (1, 10**9),
    "batch_size": (1, 1_000_000),
    "lr": (1e-12, 100),
    "weight_decay": (0, 100),
    "patience": (0, 10**9),
    "max_steps": (0, 10**15),
    "crop_samples": (0, 10**12),
}


def bounded(name: str, value: Any, lo: float, hi: float):
    """`value` if it is a finite number in [lo, hi], else a UsageError naming the bounds (NaN and inf refused)."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UsageError(f"{name}={value!r} is not a number", fix=f"give a number in [{lo:g}, {hi:g}]")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise UsageError(f"{name}={value!r} is out of range", fix=f"give a number in [{lo:g}, {hi:g}]")
    return value


def _gcd(a: int, b: int) -> int:
    import math

    return math.gcd(a, b)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        from s2w_eval.clikit import did_you_mean

        raise UsageError(f"{name}={value!r} is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}")


def _from_dict(cls, d: dict[str, Any], where: str = ""):
    """Rebuild a dataclass; a key it does not have is a UsageError (a silently dropped setting is a lie)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(str(k) for k in d if k not in known)
    if unknown:
        from s2w_eval.clikit import did_you_mean

        first = unknown[0]
        raise UsageError(
            f"unknown setting(s) {', '.join(where + k for k in unknown)}{did_you_mean(first, sorted(known))}; "
            f"{where.rstrip('.') or 'top level'} has {', '.join(sorted(known))}"
        )
    kwargs = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        value = d[f.name]
        ftype = f.type if not isinstance(f.type, str) else _TYPES.get(f.type)
        if dataclasses.is_dataclass(ftype) and isinstance(value, dict):
            value = _from_dict(ftype, value, f"{where}{f.name}.")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


_TYPES = {
    c.__name__: c
    for c in (DataConfig, CNNConfig, EncoderConfig, BaselineConfig, SampleRNNConfig, StageConfig, TrainConfig)
}


# ---------------------------------------------------------------------------------------------- presets
def paper() -> Config:
    """The published sizes and optimisers (spec sections 2-4): CNN 938 params, GRU encoder 2x128, SampleRNN
    51.85 M params. CNN: Adam lr 1e-3, momentum 0.98 (as Adam's beta1), wd 1e-4, plateau x0.8; encoder: ASGD
    lr 1e-3, wd 1e-5, plateau x0.8 (the stated momentum 0.98 has no place in ASGD); SampleRNN: Adam 1e-3."""
    cfg = Config(preset="paper")
    t = cfg.train
    t.cnn.momentum, t.cnn.scheduler = 0.98, "plateau"
    t.encoder.optimizer, t.encoder.momentum, t.encoder.scheduler = "asgd", 0.98, "plateau"
    return cfg


def tiny() -> Config:
    """Trains in seconds on 2 CPU cores (spec 7.2): tests and the quickstart."""
    return Config(
        preset="tiny",
        encoder=EncoderConfig(hidden=16, layers=1),
        baseline=BaselineConfig(step=8),
        samplernn=SampleRNNConfig(frame_sizes=(4, 4), dim=32, n_rnn=1, q_levels=64),
        train=TrainConfig(
            seq_len=256,
            ckpt_every=20,
            threads=1,
            cnn=StageConfig(epochs=8, batch_size=2, lr=1e-2, weight_decay=1e-4, patience=3),
            encoder=StageConfig(epochs=2, batch_size=4, lr=3e-3, patience=2, crop_samples=512),
            scene2wav=StageConfig(epochs=2, batch_size=4, lr=3e-3, patience=2, crop_samples=2048),
        ),
    )


def small() -> Config:
    """The learning recipe's size: trains on 12 minutes of the synthetic set in about 10 minutes on 2 CPU cores
    (docs/models.md, protocols/synthetic-small: it overfits two chords, and on the recipe it uses the scene but
    its chord agreement is not yet significant).

    The sample-level MLP reads 16 codes (frame sizes [16, 4] as the paper): with tiny's [4, 4] it sees 4
    samples, too few to continue a chord (3 partial-rich tones need an autoregression of order >= 6), and the
    measured result is noise. dim 64, one GRU layer, Q 64, TBPTT 1024, encoder GRU 1 x 32.
    """
    return Config(
        preset="small",
        encoder=EncoderConfig(hidden=32, layers=1),
        baseline=BaselineConfig(step=8),
        samplernn=SampleRNNConfig(frame_sizes=(16, 4), dim=64, n_rnn=1, q_levels=64),
        train=TrainConfig(
            seq_len=1024,
            ckpt_every=50,
            threads=1,
            # epochs without early stopping (patience 0): with early stopping on the recipe's small validation
            # split the CNN stopped at 0.77 test accuracy and Scene2Wav after 10 epochs, its condition unused;
            # these epochs on 12 minutes of movie train in about 10 minutes (docs/models.md, measured)
            cnn=StageConfig(epochs=40, batch_size=4, lr=1e-2, weight_decay=1e-4, patience=0),
            encoder=StageConfig(epochs=6, batch_size=4, lr=3e-3, patience=3, crop_samples=2048),
            scene2wav=StageConfig(epochs=30, batch_size=4, lr=3e-3, patience=0, crop_samples=8192),
        ),
    )


PRESETS = {"paper": paper, "tiny": tiny, "small": small}


def preset(name: str) -> Config:
    if name not in PRESETS:
        from s2w_eval.clikit import did_you_mean

        raise UsageError(
            f"unknown preset {name!r}{did_you_mean(name, list(PRESETS))}; choose from {', '.join(PRESETS)}"
        )
    return PRESETS[name]()


def apply_overrides(cfg: Config, overrides: dict[str, Any] | list[str] | tuple[str, ...] | None) -> Config:
    """Apply `section.field=value` overrides (strings are parsed by the field's type); returns a new Config."""
    cfg = cfg.copy()
    if not overrides:
        return cfg.validate()
    if not isinstance(overrides, dict):
        items = {}
        for text in overrides:
            if "=" not in text:
                raise UsageError(
                    f"override {text!r} is not of the form section.field=value", fix="e.g. samplernn.dim=64"
                )
            key, value = text.split("=", 1)
            items[key.strip()] = value.strip()
        overrides = items
    for key, value in overrides.items():
        parts = key.split(".")
        obj: Any = cfg
        for i, part in enumerate(parts):
            names = [f.name for f in fields(obj)]
            if part not in names:
                from s2w_eval.clikit import did_you_mean

                raise UsageError(
                    f"unknown setting {key!r}{did_you_mean(part, names)}; "
                    f"{'.'.join(parts[:i]) or 'top level'} has {', '.join(names)}"
                )
            if i == len(parts) - 1:
                current = getattr(obj, part)
                setattr(obj, part, _parse(key, value, current))
            else:
                obj = getattr(obj, part)
                if not dataclasses.is_dataclass(obj):
                    raise UsageError(f"{'.'.join(parts[: i + 1])} is a value, not a section")
    return cfg.validate()


def _parse(key: str, value: Any, current: Any) -> Any:
    if not isinstance(value, str):
        return tuple(value) if isinstance(value, list) else value
    try:
        if isinstance(current, bool):
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            return tuple(int(v) for v in value.replace("[", "").replace("]", "").split(",") if v.strip())
    except ValueError:
        raise UsageError(f"{key}={value!r}: expected {type(current).__name__}") from None
    return value
