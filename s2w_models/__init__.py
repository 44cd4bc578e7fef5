"""s2w-models: data preparation, training and generation for Scene2Wav and its ConvSeq2Seq baseline."""

from s2w_eval import __version__

__all__ = ["__version__"]
