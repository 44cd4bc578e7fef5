"""The interface every perceptual audio metric implements, so that `s2w-eval pam` treats them alike.

Two kinds:
- embedding metrics (`embeds = True`, e.g. CDPAM): each clip is embedded once (`embed`), embeddings are
  cached on disk by content hash, and the distance is computed from two embeddings (`distance`);
- pairwise metrics (`embeds = False`, e.g. DPAM, whose distance compares whole feature maps and zero-pads
  the shorter clip): `pair_distance` takes both loaded clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class PerceptualMetric:
    #: the label of this metric's rows in pam.csv (e.g. "cdpam", "dpam-scratch/paper2020")
    name: str = ""
    #: True: embed each clip once and compare embeddings; False: compare loaded clips pairwise
    embeds: bool = True
    #: the loader's name, recorded in every result (e.g. "cdpam-22050-x32768", "paper2020")
    loader: str = ""
    #: sample rate the loader produces; None when the loader keeps the file's rate
    sample_rate: int | None = None
    #: sha256 of the weights file; part of every cache key
    weights_sha256: str = ""
    #: the shape of one clip's embedding (embedding metrics), checked on every cache read; None: unchecked
    embedding_shape: tuple[int, ...] | None = None

    def load(self, path: str | Path) -> np.ndarray:
        """Read a file in the metric's input convention: 1-D float32. Raises DataError on a bad file."""
        raise NotImplementedError

    def embed(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Embeddings of loaded clips (the caller batches clips of equal length)."""
        raise NotImplementedError

    def distance(self, emb_out: np.ndarray, emb_ref: np.ndarray) -> float:
        raise NotImplementedError

    def pair_distance(self, x_out: np.ndarray, x_ref: np.ndarray) -> float:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Provenance of the metric: package, weights file and hash, loader, length policy, device."""
        raise NotImplementedError
