"""Networks: visual CNN, sequence encoder, ConvSeq2Seq baseline, conditional SampleRNN, Scene2Wav."""

from .baseline import ConvSeq2Seq
from .cnn import VisualCNN
from .encoder import SequenceEncoder
from .samplernn import ConditionalSampleRNN, FrameTier, SampleLevelMLP
from .scene2wav import Scene2Wav

__all__ = [
    "ConvSeq2Seq",
    "VisualCNN",
    "SequenceEncoder",
    "ConditionalSampleRNN",
    "FrameTier",
    "SampleLevelMLP",
    "Scene2Wav",
    "build_model",
]


def build_model(kind: str, cfg):
    """kind: "cnn" | "baseline" | "scene2wav" -> the network for `cfg` (a Config)."""
    d = cfg.data
    if kind == "cnn":
        return VisualCNN(cfg.cnn, image_size=d.image_size)
    if kind == "baseline":
        return ConvSeq2Seq(cfg.baseline, cfg.encoder, cfg.cnn, d.frames_per_clip, d.image_size)
    if kind == "scene2wav":
        return Scene2Wav(cfg)
    raise ValueError(f"unknown model kind {kind!r}")
