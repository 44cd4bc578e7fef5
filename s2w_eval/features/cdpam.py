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

Speed: the package's encoder computes every fourth convolution at full rate and then keeps every second
output (`x[:, :, ::2]`). `encode` computes those four as stride-2 convolutions (same padding, so output j is
the same dot product centred on input 2j), about 20% less arithmetic for the same numbers (float32 rounding
aside: measured within 4e-7 of the package's forward). Precision: float32 (the default and the reference) or,
opt-in, bfloat16 under `torch.autocast` where the hardware runs it natively (AMX / AVX-512 BF16, or a CUDA
device with bf16); its rows are labelled `cdpam/bf16` so they never mix with float32 results or cache entries.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from ..io.audio import load_audio, resample
from ..io.device import resolve_device
from ..io.files import sha256_file
from ..versions import package_versions
from .base import PerceptualMetric

CDPAM_VERSION = "0.0.6"
CDPAM_WEIGHTS = "CDPAM_trained/scratchJNDdefault_best_model.pth"
CDPAM_WEIGHTS_SHA256 = "453c8b6edee1a94f0120236156436ff28fe4d8d884485e4a67695c8e8570bdfe"
SAMPLE_RATE = 22050
LENGTH_POLICY = "native-length: each clip embedded at its own length (no padding)"
#: float32 is the default and the reference; bf16 is opt-in (see `CDPAMMetric.__init__`)
PRECISIONS = ("float32", "bf16")
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


def _decimates(i: int) -> bool:
    """The package's encoder keeps every second output after layers 4, 8, 12, 16 (`(i + 1) % 4 == 0`)."""
    return (i + 1) % 4 == 0


def encode(encoder, x):
    """The package's `base_encoder.forward` with its decimations computed as stride-2 convolutions.

    x: [N, 1, samples] tensor -> [N, channels] time-averaged features (the package's first return value).
    Conv1d with kernel k, padding k // 2 and stride 2 yields ceil(L / 2) outputs, output j centred on input 2j:
    exactly the outputs `x[:, :, ::2]` keeps. BatchNorm (eval) and leaky ReLU act per sample, so decimating
    before them changes nothing. Hand-written rather than calling `encoder(x)` because the package's module
    offers no stride choice; the layer objects (weights, BatchNorm statistics) are the package's own.
    """
    import torch.nn.functional as F

    for i, (conv, bn) in enumerate(zip(encoder.encoder, encoder.ebatch)):
        if conv.stride != (1,) or conv.padding != (conv.kernel_size[0] // 2,) or conv.dilation != (1,):
            raise DataError(
                f"unexpected CDPAM encoder layer {i}: {conv}", fix=f"reinstall cdpam=={CDPAM_VERSION}"
            )
        stride = 2 if _decimates(i) else 1
        x = F.conv1d(x, conv.weight, conv.bias, stride=stride, padding=conv.padding)
        x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        x = F.leaky_relu(x, 0.1)
    return x.sum(dim=2) / x.shape[2]


def encoder_multiply_adds(encoder, n_samples: int, strided: bool = True) -> int:
    """Multiply-adds of one encoder pass over `n_samples` input samples, from the actual layer shapes.

    strided=False counts the package's own forward (every layer at full rate, then `::2`).
    """
    total, length = 0, n_samples
    for i, conv in enumerate(encoder.encoder):
        c_out, c_in, k = conv.weight.shape
        out_len = (length + 1) // 2 if _decimates(i) else length
        total += c_out * c_in * k * (out_len if strided else length)
        length = out_len
    return int(total)


def bf16_supported(device) -> bool:
    """Whether `device` runs bfloat16 natively (CPU: oneDNN's check for AVX-512 BF16 / AMX)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


class CDPAMMetric(PerceptualMetric):
    name = "cdpam"
    embeds = True
    loader = "librosa-like: soundfile/PyAV, mono average, soxr HQ to 22050 Hz, x32768 rounded"
    sample_rate = SAMPLE_RATE
    #: one embedding per clip (the acoustic features, L2-normalised); the cache checks entries against it
    embedding_shape = (512,)

    def __init__(
        self,
        device: str = "cpu",
        threads: int | None = None,
        precision: str = "float32",
        allow_emulated_bf16: bool = False,
    ):
        """precision: "float32" (default, the reference) or "bf16" (torch.autocast to bfloat16 around the
        encoder; embeddings and distances stay float32). bf16 is refused where the hardware would emulate
        it (measured 75x slower than float32 on a CPU without AVX-512 BF16 / AMX), unless
        allow_emulated_bf16 (for checking its numbers on such a machine)."""
        import torch

        self.device = resolve_device(device)
        if precision not in PRECISIONS:
            raise UsageError(f"unknown CDPAM precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        if precision == "bf16" and not allow_emulated_bf16 and not bf16_supported(self.device):
            raise UsageError(
                f"bfloat16 CDPAM asked for, but this {self.device.type} has no native bfloat16 "
                "(AVX-512 BF16 or AMX on CPU); emulated it is far slower than float32",
                fix="use precision float32 (the default) on this machine",
            )
        self.precision = precision
        if precision != "float32":  # a different measurement: its own rows, journal keys and cache entries
            self.name = f"cdpam/{precision}"
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
            with self._autocast():
                feats = encode(self.encoder, x)
            # the package's split: the first half of the channels is the "acoustic" embedding
            acoustics = feats[:, : feats.shape[1] // 2].float()
            emb = F.normalize(acoustics, dim=1)
        return [e for e in emb.cpu().numpy()]

    def _autocast(self):
        import torch

        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

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
            "precision": self.precision,
            "encoder": "decimating layers as stride-2 convolutions",
            "lower_is_better": True,
        }


@functools.lru_cache(maxsize=4)
def cdpam_model(device: str = "cpu", precision: str = "float32") -> CDPAMMetric:
    """One loaded CDPAM per (device, precision) per process (loading checks a 50 MB file's sha256)."""
    return CDPAMMetric(device=device, precision=precision)


def _as_clip(x: np.ndarray, sr: int, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.size == 0 or not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"{what}: expected a non-empty 1-D float array, got {a.dtype} of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{what}: holds NaN or infinite samples")
    if sr != SAMPLE_RATE:
        a = resample(a, sr, SAMPLE_RATE)
    return cdpam_input(a)


def cdpam_distance(
    reference: np.ndarray,
    estimated: np.ndarray,
    *,
    sr: int = SAMPLE_RATE,
    device: str = "cpu",
    precision: str = "float32",
) -> float:
    """CDPAM distance between two mono float clips in [-1, 1] at `sr` (resampled to 22050 Hz with soxr HQ).

    Same numbers as `s2w-eval pam` gives for the files holding these samples. Lower is closer.
    """
    metric = cdpam_model(device, precision)
    e_ref, e_est = (
        metric.embed([c])[0]
        for c in (_as_clip(reference, sr, "reference"), _as_clip(estimated, sr, "estimated"))
    )
    return metric.distance(e_est, e_ref)
