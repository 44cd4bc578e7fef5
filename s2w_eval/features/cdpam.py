"""CDPAM (Manocha et al. 2021), from the `cdpam` package's own network classes and weights.

The package as shipped cannot be used directly on current software: its `load_audio` uses `np.float`
(removed from numpy), its constructor calls `torch.load` without `weights_only=False` (refused by torch >= 2.6),
its `__init__` imports `resampy`, and it keeps autograd on. So we import only `cdpam/models.py` (the network
classes) from the installed package folder, verify the weights file's sha256, load its state dict explicitly,
and run the encoder once per clip under `torch.inference_mode`.

Input convention (the metric's authors'): mono, 22050 Hz, samples x 32768 and rounded, float32, [N, samples].
Distance: `lossnet_dfl` over the L2-normalised "acoustic" half of the encoder's time-averaged features; it
is symmetric and 0 for identical clips. Clips of different lengths: each clip is embedded at its own length
(the encoder averages over time, so the embedding needs no padding). The authors' scripts zero-pad the
shorter clip of a pair first; that makes an embedding depend on the other clip and is not done here; the
policy is recorded in every result ("native-length").
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io.audio import load_audio
from ..io.files import sha256_file
from ..versions import package_versions
from .base import PerceptualMetric

CDPAM_VERSION = "0.0.6"
CDPAM_WEIGHTS = "CDPAM_trained/scratchJNDdefault_best_model.pth"
CDPAM_WEIGHTS_SHA256 = "453c8b6edee1a94f0120236156436ff28fe4d8d884485e4a67695c8e8570bdfe"
SAMPLE_RATE = 22050
LENGTH_POLICY = "native-length: each clip embedded at its own length (no padding)"
# The network configuration of CDPAM's published model (cdpam/cdpam.py, class CDPAM.__init__).
_NET_KWARGS = dict(
    encoder_layers=16,
    encoder_filters=64,
    ndim=[16, 6],
    classif_dp=0.05,
    classif_BN=0,
    classif_act="no",
    input_size=512,
)


def cdpam_package_dir() -> Path:
    spec = importlib.util.find_spec("cdpam")  # locating the package does not run its __init__
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the cdpam package is not installed", fix=f"pip install cdpam=={CDPAM_VERSION}")
    return Path(list(spec.submodule_search_locations)[0])


def _import_models(pkg: Path):
    name = "_s2w_cdpam_models"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, pkg / "models.py")
    if spec is None or spec.loader is None:
        raise DataError("cdpam/models.py not found", pkg, f"reinstall cdpam=={CDPAM_VERSION}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def cdpam_input(x: np.ndarray) -> np.ndarray:
    """Mono float audio in [-1, 1] at 22050 Hz -> CDPAM's input convention (x 32768, rounded, float32)."""
    return np.round(np.asarray(x, dtype=np.float64) * 32768.0).astype(np.float32)


class CDPAMMetric(PerceptualMetric):
    name = "cdpam"
    embeds = True
    loader = "librosa-like: soundfile/PyAV, mono average, soxr HQ to 22050 Hz, x32768 rounded"
    sample_rate = SAMPLE_RATE
    #: one embedding per clip (the acoustic features, L2-normalised); the cache checks entries against it
    embedding_shape = (512,)

    def __init__(self, device: str = "cpu", threads: int | None = None):
        import torch

        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise DataError(
                "--device cuda asked for, but no CUDA device is available", fix="use --device cpu"
            )
        if threads:
            torch.set_num_threads(threads)
        pkg = cdpam_package_dir()
        weights = pkg / CDPAM_WEIGHTS
        if not weights.is_file():
            raise DataError(
                "CDPAM weights missing from the cdpam package", weights, f"reinstall cdpam=={CDPAM_VERSION}"
            )
        digest = sha256_file(weights)
        if digest != CDPAM_WEIGHTS_SHA256:
            raise DataError(
                f"CDPAM weights have sha256 {digest}, expected {CDPAM_WEIGHTS_SHA256}",
                weights,
                f"reinstall cdpam=={CDPAM_VERSION}; the file was changed",
            )
        self.weights_path = weights
        self.weights_sha256 = digest
        models = _import_models(pkg)
        net = models.FINnet(dev=torch.device("cpu"), **_NET_KWARGS)
        # weights_only=False is needed: the file pickles its optimizer state too. Safe only because the
        # file's sha256 was checked against the published wheel's above.
        state = torch.load(weights, map_location="cpu", weights_only=False)["state"]
        net.load_state_dict(state)
        net.eval()
        self.encoder = net.base_encoder.to(self.device).eval()
        self.dist = net.model_dist.to(self.device).eval()
        for p in list(self.encoder.parameters()) + list(self.dist.parameters()):
            p.requires_grad_(False)

    def load(self, path: str | Path) -> np.ndarray:
        x, _ = load_audio(path, sr=SAMPLE_RATE, mono=True)
        return cdpam_input(x)

    def embed(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        if not clips:
            return []
        lengths = {len(c) for c in clips}
        if len(lengths) != 1:
            raise ValueError("embed() takes clips of equal length; group them first")
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(clips).astype(np.float32)).to(self.device).unsqueeze(1)
            _, acoustics, _ = self.encoder(x)
            emb = F.normalize(acoustics, dim=1)
        return [e for e in emb.float().cpu().numpy()]

    def distances(self, emb_out: np.ndarray, emb_ref: np.ndarray) -> np.ndarray:
        """Row-wise distances between two [N, 512] embedding matrices."""
        import torch

        with torch.inference_mode():
            a = torch.from_numpy(np.atleast_2d(emb_ref).astype(np.float32)).to(self.device)
            b = torch.from_numpy(np.atleast_2d(emb_out).astype(np.float32)).to(self.device)
            d = self.dist(a, b)
        return d.float().cpu().numpy().reshape(-1)

    def distance(self, emb_out: np.ndarray, emb_ref: np.ndarray) -> float:
        return float(self.distances(emb_out, emb_ref)[0])

    def describe(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "package": "cdpam",
            "package_version": package_versions(["cdpam"])["cdpam"],
            "weights": str(self.weights_path),
            "weights_sha256": self.weights_sha256,
            "loader": self.loader,
            "sample_rate": SAMPLE_RATE,
            "length_policy": LENGTH_POLICY,
            "device": str(self.device),
            "lower_is_better": True,
        }
