"""Clip embeddings for distribution distances (`s2w-eval dist`): one vector per clip.

Offline, from the networks s2w already loads (weights inside their pip packages, sha256 checked):
- `cdpam`: CDPAM's encoder, the mean over time of its 1024 channels (both halves: acoustic and content), on
  CDPAM's input convention (22050 Hz mono, x 32768);
- `dpam`: DPAM's deep features (scratch checkpoint, modern loader): each of its 14 layers' channels averaged
  over time, concatenated (32 x 5 + 64 x 5 + 128 x 4 = 992 values). DPAM normalises every layer per clip,
  so these features describe the shape of each channel's activity, not its level.

The field's standard embeddings load weights ONLY from a file or folder the user names (never downloaded;
the sha256 of the weights file is recorded and part of the cache key): `vggish`, `panns-cnn14`, `clap`,
`encodec`, `mert` (s2w_eval.features.standard_embeddings).

An Embedding takes mono float audio in [-1, 1] at its `sample_rate` (`load` reads a file that way) and
returns a float32 vector; `namespace` keys the on-disk cache (EmbeddingCache).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UsageError


class Embedding:
    #: registry name ("cdpam", "vggish", ...)
    name: str = ""
    #: the rate `embed` expects
    sample_rate: int = 22050
    #: sha256 of the weights file
    weights_sha256: str = ""
    #: how files are read, recorded in results
    loader: str = "soundfile/PyAV, mono average, soxr HQ resampling to the embedding's rate, float [-1, 1]"

    @property
    def namespace(self) -> tuple[str, ...]:
        return ("embedding", self.name, self.weights_sha256[:16], str(self.sample_rate))

    def load(self, path: str | Path) -> np.ndarray:
        from ..io.audio import load_audio

        x, _ = load_audio(path, sr=self.sample_rate, mono=True)
        return x

    def embed(self, x: np.ndarray) -> np.ndarray:
        """One clip [samples] at `sample_rate`, float in [-1, 1] -> a float32 vector."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Free the network."""


def array_digest(x: np.ndarray) -> str:
    """A content key for an in-memory clip (anchors made by `s2w-eval calibrate`)."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    return hashlib.sha256(a.tobytes()).hexdigest()


def _check_clip(x: np.ndarray, min_samples: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise DataError(f"{what} takes mono clips; got shape {x.shape}")
    if x.size < min_samples:
        raise DataError(f"clip too short for {what}: {x.size} samples, needs at least {min_samples}")
    return x


class CDPAMEmbedding(Embedding):
    name = "cdpam"

    def __init__(self, device: str = "cpu"):
        from .cdpam import SAMPLE_RATE, cdpam_model

        self.metric = cdpam_model(device)
        self.sample_rate = SAMPLE_RATE
        self.weights_sha256 = self.metric.weights_sha256

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        from .cdpam import cdpam_input, encode

        x = _check_clip(x, 2**4 * 15, "the CDPAM embedding")
        with torch.inference_mode():
            t = torch.from_numpy(cdpam_input(x)).to(self.metric.device).view(1, 1, -1)
            full = encode(self.metric.encoder, t)  # the package encoder's time-averaged 1024 channels
        return full[0].float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        d = self.metric.describe()
        return {
            "embedding": self.name,
            "definition": "CDPAM encoder output: mean over time of its 1024 channels (acoustic + content)",
            "dims": 1024,
            "package": d["package"],
            "package_version": d["package_version"],
            "weights": d["weights"],
            "weights_sha256": self.weights_sha256,
            "sample_rate": self.sample_rate,
            "input": "mono, 22050 Hz, x 32768 rounded (CDPAM's convention)",
        }


class DPAMEmbedding(Embedding):
    name = "dpam"

    def __init__(self, device: str = "cpu", checkpoint: str = "scratch"):
        from .dpam import MODERN_SR, DPAMMetric

        self.metric = DPAMMetric(checkpoint=checkpoint, loader="modern", device=device)
        self.checkpoint = checkpoint
        self.sample_rate = MODERN_SR
        self.weights_sha256 = self.metric.weights_sha256

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = _check_clip(x, 1024, "the DPAM embedding")
        scaled = np.round(x.astype(np.float64) * 32768.0).astype(np.float32)
        with torch.inference_mode():
            t = torch.from_numpy(scaled).to(self.metric.net.device).view(1, -1)
            layers = self.metric.net.features(t)  # [1, C_l, T_l] per layer
        self.metric.net.release()
        return torch.cat([f[0].mean(dim=1) for f in layers]).float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        d = self.metric.describe()
        return {
            "embedding": self.name,
            "definition": "DPAM feature network: each layer's channels averaged over time, 14 layers "
            "concatenated (992 values)",
            "dims": 992,
            "package": d["package"],
            "package_version": d["package_version"],
            "checkpoint": self.checkpoint,
            "weights": d["weights_file"],
            "weights_sha256": self.weights_sha256,
            "sample_rate": self.sample_rate,
            "input": "mono, 22050 Hz, x 32768 rounded (DPAM's modern loader)",
        }


def _standard(name: str) -> Callable[..., Embedding]:
    def make(device: str = "cpu", weights: str | Path | None = None) -> Embedding:
        from . import standard_embeddings as se

        return se.BACKENDS[name](weights, device=device)

    return make


#: name -> (needs --weights, factory)
EMBEDDINGS: dict[str, tuple[bool, Callable[..., Embedding]]] = {
    "cdpam": (False, lambda device="cpu", weights=None: CDPAMEmbedding(device)),
    "dpam": (False, lambda device="cpu", weights=None: DPAMEmbedding(device)),
    "vggish": (True, _standard("vggish")),
    "panns-cnn14": (True, _standard("panns-cnn14")),
    "clap": (True, _standard("clap")),
    "encodec": (True, _standard("encodec")),
    "mert": (True, _standard("mert")),
}
DEFAULT_EMBEDDING = "cdpam"


def build_embedding(name: str, weights: str | Path | None = None, device: str = "cpu") -> Embedding:
    """An embedding by name; the standard ones need `weights` (a file or folder the user downloaded)."""
    if name not in EMBEDDINGS:
        raise UsageError(f"unknown embedding {name!r}; choose from {', '.join(EMBEDDINGS)}")
    needs, factory = EMBEDDINGS[name]
    if needs and weights is None:
        raise UsageError(
            f"the {name} embedding loads its weights only from a file you name; s2w never downloads them",
            fix="see docs/dist.md for where each model's published weights are and the form s2w reads",
        )
    if not needs and weights is not None:
        raise UsageError(f"the {name} embedding uses the weights inside its package; give no weights file")
    return factory(device=device, weights=weights)


def embed_cached(emb: Embedding, x: np.ndarray, digest: str, cache=None) -> np.ndarray:
    """emb.embed(x) through the content-keyed cache (digest: the file's or array's sha256)."""
    if cache is not None:
        hit = cache.get(emb.namespace, digest)
        if hit is not None:
            return hit
    v = np.asarray(emb.embed(x), dtype=np.float32)
    if not np.all(np.isfinite(v)):
        raise DataError(f"the {emb.name} embedding of this clip holds NaN or infinite values")
    if cache is not None:
        cache.put(emb.namespace, digest, v)
    return v
