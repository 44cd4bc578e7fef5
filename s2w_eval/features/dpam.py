"""DPAM (Manocha et al. 2020), the perceptual metric of the Scene2Wav paper's Table 3, without TensorFlow.

The network and weights are the metric authors' (`pip install dpam==0.0.4` ships the TensorFlow checkpoints);
the checkpoint is read by `tfckpt.CheckpointReader` and the network re-implemented in PyTorch:

- 14 layers of a 1x3 convolution (no bias; stride 2 for layers 0-12, 1 for layer 13; TensorFlow 'SAME'
  padding, the odd extra sample on the right), batch normalisation in training mode (each clip normalised by
  its own per-channel mean and biased variance over time, eps 0.001, plus beta; no gamma) and leaky ReLU 0.2;
- D(a, b) = sum over layers of mean over channels and time of |w_l[c] * (F_l(a) - F_l(b))|, reported as is.
  Clips of different lengths: the shorter one is zero-padded at the start (as the authors' script).

DPAM depends on amplitude scale and sample rate, so the audio loader is part of the metric (see docs/dpam.md):
`modern` = 22050 Hz mono, x 32768, rounded (the pip package); `paper2020` = the raw file as
`scipy.io.wavfile.read` returns it (no resampling, no rescaling, stereo interleaved), which is what the
Scene2Wav authors ran and what reproduces the paper's Table 3.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from .base import PerceptualMetric
from .tfckpt import CheckpointReader

CHECKPOINTS = {"scratch": "scratch_loss", "finetune": "finetune_loss", "linear": "linear_layer_loss"}
LOADERS = ("modern", "paper2020")
N_LAYERS = 14
BN_EPS = 1e-3
LEAKY_SLOPE = 0.2
MODERN_SR = 22050
PADDING_POLICY = "shorter zero-padded at the start"
_INSTALL_FIX = "pip install dpam==0.0.4 (its weights are read without TensorFlow)"
# the most samples one forward batch holds (both sides of every pair). On CPU the network is memory-bound and
# small batches stay in cache (about 40 MB of activations per 1M samples); a GPU wants large batches.
_MAX_BATCH_SAMPLES = {"cpu": 1_000_000, "cuda": 32_000_000}


def layer_channels(i: int) -> int:
    """Output channels of layer i: 32 x5, 64 x5, 128 x4."""
    return 32 * 2 ** (i // 5)


def dpam_package_dir() -> Path:
    """The installed `dpam` package's folder, found without importing it (its import needs TensorFlow)."""
    try:
        spec = importlib.util.find_spec("dpam")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DataError("the dpam package (DPAM's weights) is not installed", None, _INSTALL_FIX)
    return Path(locations[0])


def checkpoint_prefix(checkpoint: str) -> Path:
    if checkpoint not in CHECKPOINTS:
        raise UsageError(f"unknown DPAM checkpoint {checkpoint!r}; choose one of {', '.join(CHECKPOINTS)}")
    prefix = dpam_package_dir() / "pre-model" / CHECKPOINTS[checkpoint] / "my_test_model"
    if not Path(f"{prefix}.index").is_file():
        raise DataError(
            "DPAM checkpoint files are missing from the dpam package", f"{prefix}.index", _INSTALL_FIX
        )
    return prefix


def read_weights(prefix: str | Path) -> dict[str, list[np.ndarray]]:
    """The tensors DPAM uses, CRC-checked: conv weights [1, 3, Cin, Cout], BN betas [C], distance weights [C]."""
    reader = CheckpointReader(prefix)
    conv, beta, dist = [], [], []
    for i in range(N_LAYERS):
        c_out = layer_channels(i)
        c_in = 1 if i == 0 else layer_channels(i - 1)
        expected = {
            f"loss_conv_{i}/weights": (1, 3, c_in, c_out),
            f"loss_conv_{i}/BatchNorm/beta": (c_out,),
            f"weights_{i}": (c_out,),
        }
        arrays = []
        for name, shape in expected.items():
            arr = reader.get(name)
            if arr.shape != shape:
                raise DataError(
                    f"tensor {name!r} has shape {arr.shape}, DPAM needs {shape}",
                    reader.index_path,
                    _INSTALL_FIX,
                )
            if not np.all(np.isfinite(arr)):
                raise DataError(f"tensor {name!r} holds NaN/inf", reader.index_path, _INSTALL_FIX)
            arrays.append(arr.astype(np.float32))
        conv.append(arrays[0])
        beta.append(arrays[1])
        dist.append(arrays[2])
    return {"conv": conv, "beta": beta, "dist": dist}


@lru_cache(maxsize=8)
def _weights_sha256(path: str, mtime_ns: int, size: int) -> str:
    from ..io.files import sha256_file

    return sha256_file(path)


def _tf_same_pad(length: int, stride: int, kernel: int = 3) -> tuple[int, int]:
    out = -(-length // stride)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


class DPAMNet:
    """The feature network and weighted distance, in PyTorch (float32), on one device.

    Channels-last ([B, T, C]) and written for a memory-bound CPU: a stride-2 1x3 convolution over a padded
    buffer P is two matrix products, [P[2t], P[2t+1]] @ [W0; W1] + P[2t+2] @ W2 (both operands are views of
    P, no copy), written straight into the next layer's padded buffer; batch norm and leaky ReLU run in place.
    The buffers are reused across layers and batches (fresh large allocations cost page faults on every call).
    """

    def __init__(self, weights: dict[str, list[np.ndarray]], device: str = "cpu"):
        import torch

        self.device = torch.device(device)
        self.w = []  # per layer: the three taps [Cin, Cout] of the HWIO kernel [1, 3, Cin, Cout]
        self.w01 = []  # taps 0 and 1 stacked: [2 Cin, Cout]
        for w in weights["conv"]:
            taps = torch.from_numpy(np.ascontiguousarray(w[0])).to(self.device)
            self.w.append([taps[k].contiguous() for k in range(3)])
            self.w01.append(taps[:2].reshape(-1, taps.shape[-1]).contiguous())
        self.beta = [torch.from_numpy(b).to(self.device).view(1, 1, -1) for b in weights["beta"]]
        self.abs_dist = [torch.from_numpy(np.abs(w)).to(self.device).view(1, -1) for w in weights["dist"]]
        self._ws = None

    def release(self) -> None:
        """Free the reusable work buffers."""
        self._ws = None

    def _workspace(self, numel: int):
        import torch

        if self._ws is None or self._ws[0].numel() < numel:
            self._ws = [torch.empty(numel, dtype=torch.float32, device=self.device) for _ in range(3)]
        return self._ws

    @staticmethod
    def _plan(length: int) -> list[tuple[int, int, int, int, int]]:
        """Per layer: (stride, input length, left pad, right pad, output length)."""
        plan = []
        for i in range(N_LAYERS):
            stride = 2 if i < N_LAYERS - 1 else 1
            left, right = _tf_same_pad(length, stride)
            out = -(-length // stride)
            plan.append((stride, length, left, right, out))
            length = out
        return plan

    def _layers(self, x):
        """Yield each layer's feature map [B, T_l, C_l] for a batch x [B, L] (a view into a reused buffer:
        valid until the next layer is computed)."""
        import torch
        import torch.nn.functional as F

        n_batch, length = x.shape
        plan = self._plan(length)
        # rows of each layer's padded input buffer (+1 spare row so that stride-2 views reshape cleanly)
        rows = [ln + left + right + 1 for (_s, ln, left, right, _o) in plan]
        c_in = [1] + [layer_channels(i) for i in range(N_LAYERS - 1)]
        last = plan[-1][4] * layer_channels(N_LAYERS - 1)
        numel = n_batch * max(max(r * c for r, c in zip(rows, c_in)), last)
        ws = self._workspace(numel)

        def padded(i: int):
            buf = ws[i % 2][: n_batch * rows[i] * c_in[i]].view(n_batch, rows[i], c_in[i])
            _s, ln, left, _r, _o = plan[i]
            buf[:, :left].zero_()
            buf[:, left + ln :].zero_()
            return buf, buf[:, left : left + ln]

        src, core = padded(0)
        core.copy_(x.unsqueeze(-1))
        for i, (stride, _ln, _l, _r, out) in enumerate(plan):
            c_out = layer_channels(i)
            if i + 1 < N_LAYERS:
                dst, y = padded(i + 1)
            else:
                y = ws[(i + 1) % 2][: n_batch * out * c_out].view(n_batch, out, c_out)
            cin = c_in[i]
            w0, w1, w2 = self.w[i]
            for b in range(n_batch):
                if stride == 2:
                    pairs = src[b, : 2 * out].view(out, 2 * cin)  # rows 2t, 2t+1 side by side
                    nxt = src[b, 2 : 2 * out + 2].view(out, 2 * cin)[:, :cin]  # row 2t+2
                    torch.mm(pairs, self.w01[i], out=y[b])
                    y[b].addmm_(nxt, w2)
                else:
                    torch.mm(src[b, 0:out], w0, out=y[b])
                    y[b].addmm_(src[b, 1 : out + 1], w1)
                    y[b].addmm_(src[b, 2 : out + 2], w2)
            # batch norm in training mode: per clip and channel over time, biased variance, no gamma
            mean = y.sum(dim=1, keepdim=True).div_(out)
            y.sub_(mean)
            sq = ws[2][: y.numel()].view(y.shape)
            var = torch.mul(y, y, out=sq).sum(dim=1, keepdim=True).div_(out)
            torch.addcmul(self.beta[i], y, torch.rsqrt(var.add_(BN_EPS)), out=y)
            F.leaky_relu(y, LEAKY_SLOPE, inplace=True)
            yield y
            if i + 1 < N_LAYERS:
                src = dst

    def features(self, x):
        """Per-layer feature maps of a batch x [B, L] -> list of [B, C_l, T_l] (copies)."""
        return [f.transpose(1, 2).clone() for f in self._layers(x)]

    def distances(self, a, b):
        """D(a[i], b[i]) for batches a, b [B, L] of equal shape -> [B] float64 tensor.

        mean_{c,t} |w[c] (F_a - F_b)| is computed as mean_c |w[c]| * mean_t |F_a - F_b| (the same value).
        """
        import torch

        n = a.shape[0]
        total = torch.zeros(n, dtype=torch.float64, device=a.device)
        for i, f in enumerate(self._layers(torch.cat([a, b], dim=0))):
            diff = self._ws[2][: f[:n].numel()].view(f[:n].shape)
            per_channel = torch.sub(f[:n], f[n:], out=diff).abs_().sum(dim=1).div_(f.shape[1])
            total += (per_channel * self.abs_dist[i]).mean(dim=1).double()
        return total


def pad_pair(x_out: np.ndarray, x_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad the shorter clip at the START to the longer one's length (the authors' `check_length`)."""
    n = max(len(x_out), len(x_ref))
    return (
        np.pad(x_out, (n - len(x_out), 0)) if len(x_out) < n else x_out,
        np.pad(x_ref, (n - len(x_ref), 0)) if len(x_ref) < n else x_ref,
    )


class DPAMMetric(PerceptualMetric):
    """DPAM as a pairwise perceptual metric: `DPAMMetric("scratch", "paper2020").pair_distance(a, b)`."""

    embeds = False

    def __init__(self, checkpoint: str = "scratch", loader: str = "modern", device: str = "cpu"):
        if loader not in LOADERS:
            raise UsageError(f"unknown DPAM loader {loader!r}; choose one of {', '.join(LOADERS)}")
        self.checkpoint = checkpoint
        self.loader = loader
        self.sample_rate = MODERN_SR if loader == "modern" else None
        self.name = f"dpam-{checkpoint}/{loader}"
        from ..io.device import resolve_device

        self.device = str(resolve_device(device))
        self.prefix = checkpoint_prefix(checkpoint)
        self.data_path = Path(f"{self.prefix}.data-00000-of-00001")
        self.net = DPAMNet(read_weights(self.prefix), device=self.device)
        st = self.data_path.stat()
        self.weights_sha256 = _weights_sha256(str(self.data_path), st.st_mtime_ns, st.st_size)

    # -- loading ---------------------------------------------------------------------------------------------
    def load(self, path: str | Path) -> np.ndarray:
        if self.loader == "modern":
            from ..io.audio import load_audio

            x, _sr = load_audio(path, sr=MODERN_SR)
            return modern_input(x)
        return load_paper2020(path)

    # -- distances -------------------------------------------------------------------------------------------
    def pair_distance(self, x_out: np.ndarray, x_ref: np.ndarray) -> float:
        return self.pair_distances([(x_out, x_ref)])[0]

    def pair_distances(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[float]:
        """Distances of many (output, reference) pairs; pairs of equal (padded) length run as one batch."""
        import torch

        padded = []
        for k, (a, b) in enumerate(pairs):
            a = _as_clip(a, f"pair {k}, output")
            b = _as_clip(b, f"pair {k}, reference")
            padded.append(pad_pair(a, b))
        by_len: dict[int, list[int]] = {}
        for k, (a, _b) in enumerate(padded):
            by_len.setdefault(len(a), []).append(k)
        result = [0.0] * len(padded)
        with torch.inference_mode():
            for length, idx in by_len.items():
                cap = _MAX_BATCH_SAMPLES.get(self.net.device.type, _MAX_BATCH_SAMPLES["cpu"])
                per_batch = max(1, cap // (2 * length))
                for start in range(0, len(idx), per_batch):
                    chunk = idx[start : start + per_batch]
                    a = torch.from_numpy(np.stack([padded[k][0] for k in chunk])).to(self.net.device)
                    b = torch.from_numpy(np.stack([padded[k][1] for k in chunk])).to(self.net.device)
                    for k, d in zip(chunk, self.net.distances(a, b).cpu().tolist()):
                        result[k] = float(d)
        self.net.release()
        return result

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        try:
            version = metadata.version("dpam")
        except metadata.PackageNotFoundError:  # pragma: no cover - found by find_spec but no metadata
            version = None
        return {
            "metric": self.name,
            "implementation": "s2w_eval.features.dpam (PyTorch re-implementation; TensorFlow-free checkpoint reader)",
            "package": "dpam",
            "package_version": version,
            "checkpoint": self.checkpoint,
            "weights_file": str(self.data_path),
            "weights_sha256": self.weights_sha256,
            "loader": self.loader,
            "loader_definition": (
                "librosa-style load at 22050 Hz mono, x 32768, rounded"
                if self.loader == "modern"
                else "scipy.io.wavfile.read as stored: no resampling, no rescaling, stereo interleaved"
            ),
            "sample_rate": self.sample_rate,
            "padding": PADDING_POLICY,
            "device": self.device,
            "output": "sum over 14 layers of mean |w * (F(a) - F(b))|, no sigmoid; lower is closer",
        }


def _as_clip(x: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 1:
        raise UsageError(f"DPAM takes 1-D clips; the {what} clip has shape {arr.shape}")
    if arr.size == 0:
        raise UsageError(f"DPAM got an empty clip ({what})")
    return np.ascontiguousarray(arr)


def modern_input(x: np.ndarray) -> np.ndarray:
    """The `modern` convention's samples: float in [-1, 1] at 22050 Hz, scaled by 32768 and rounded."""
    return np.round(np.asarray(x, dtype=np.float64) * 32768.0).astype(np.float32)


def load_paper2020(path: str | Path) -> np.ndarray:
    """The 2020 loader: `scipy.io.wavfile.read`, nothing else. Stereo flattened row-major (interleaved)."""
    import warnings

    from scipy.io import wavfile

    from ..io.audio import MAX_ABS_SAMPLE, check_rate, validate_samples

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            _sr, data = wavfile.read(str(path))
    except Exception as exc:
        raise DataError(
            f"the paper2020 loader (scipy.io.wavfile.read) cannot read this file ({exc})",
            path,
            "give a WAV file, or use the modern DPAM loader",
        ) from exc
    data = np.asarray(data)
    if data.dtype.kind not in "iuf":
        raise DataError(f"unsupported WAV sample type {data.dtype}", path, "use the modern loader")
    check_rate(_sr, path)  # the rate is not used, but a 1 Hz header is a broken file for every loader
    x = data.reshape(-1).astype(np.float32)
    # integer samples are used unscaled (bounded by their type); float ones must be audio-sized
    validate_samples(x, path, max_abs=None if data.dtype.kind in "iu" else MAX_ABS_SAMPLE)
    return x
