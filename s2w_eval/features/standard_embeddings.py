"""The field's standard audio embeddings, loaded ONLY from weights the user names (never downloaded).

| name | network | weights s2w reads | embedding |
|---|---|---|---|
| `vggish` | VGGish (Hershey et al. 2017), 16 kHz | a PyTorch state dict in torchvggish's layout (`vggish-10086976.pth`) | the 128-d output per 0.96 s example (before PCA), averaged |
| `panns-cnn14` | PANNs CNN14 (Kong et al. 2020), 32 kHz | the published checkpoint (`Cnn14_mAP=0.431.pth`: {"model": state dict}) or a bare state dict | the 2048-d `embedding` (fc1 output) |
| `clap` | CLAP HTSAT (LAION), 48 kHz | a Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin) of `ClapModel` | the projected, L2-normalised audio embedding (512-d) |
| `encodec` | EnCodec (Defossez et al. 2022), 24 kHz | a Hugging Face folder of `EncodecModel` | the encoder's continuous latent (128-d) averaged over time |
| `mert` | MERT-v1 (Li et al. 2023), 24 kHz | a Hugging Face folder of MERT-v1 (HuBERT-shaped) | the last hidden state (768-d) averaged over time |

VGGish and CNN14 are written here (with the published parameter names, so the published files load): the
pip packages that define them (torchvggish, panns-inference) fetch weights or label files when imported or
constructed. CLAP, EnCodec and MERT use the architectures of `transformers` (optional extra `embeddings`),
built from the folder's config.json with `local_files_only`, so nothing is fetched. MERT has no class in
transformers (its authors ship remote code); MERT-v1 is HuBERT's architecture, so its weights are loaded into
`HubertModel`, strictly: a file with parameters HubertModel lacks is refused, naming them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from .embeddings import Embedding

_TRANSFORMERS_FIX = "pip install 's2w[embeddings]' (the transformers architectures; no weights are fetched)"


def _sha256(path: Path) -> str:
    from ..io.files import sha256_file

    return sha256_file(path)


def _weights_file(path: str | Path, name: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"weights file for {name} not found", p, "give the path of the downloaded weights file"
        )
    return p


def _load_state(path: Path, name: str) -> dict:
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataError(f"cannot read the {name} weights ({exc})", path, "give a PyTorch state dict") from exc
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # the PANNs checkpoints wrap the state dict
    if not isinstance(obj, dict):
        raise DataError(f"the {name} weights file holds no state dict", path)
    return obj


def _load_strict(module, state: dict, path: Path, name: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    own = {k: v for k, v in module.state_dict().items() if not k.startswith(ignore_prefixes)}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:5])}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append(f"wrong shape {', '.join(wrong[:5])}")
        raise DataError(
            f"these are not {name} weights in the layout s2w reads: {'; '.join(parts)}",
            path,
            "see docs/dist.md for the file each embedding reads",
        )
    # strict above on everything but the ignored entries (they keep the module's own values)
    module.load_state_dict(state, strict=False)


def _width(state: dict, key: str, path: Path, name: str) -> float:
    """The width factor of a state dict (first layer's channels / 64; 1 for the published networks)."""
    if key not in state:
        raise DataError(f"these are not {name} weights: no {key!r}", path, "see docs/dist.md")
    return state[key].shape[0] / 64


def _log_mel(x, sr, n_fft, win, hop, n_mels, fmin, fmax, htk, power, log):
    import librosa

    S = (
        np.abs(librosa.stft(x, n_fft=n_fft, win_length=win, hop_length=hop, window="hann", center=True))
        ** power
    )
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=None)
    return log(mel @ S).T.astype(np.float32)  # [frames, mels]


# ---- VGGish ---------------------------------------------------------------------------------------------------


def vggish_network(width: float = 1.0):
    """VGGish in torchvggish's layout (parameter names `features.N`, `embeddings.N`). `width` scales every
    layer (1 = the published network; the tests build a narrow one to check the loading code quickly)."""
    import torch
    from torch import nn

    class VGGish(nn.Module):
        def __init__(self):
            super().__init__()
            layers, c_in = [], 1
            for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
                if v == "M":
                    layers.append(nn.MaxPool2d(2, 2))
                else:
                    layers += [nn.Conv2d(c_in, int(v * width), 3, padding=1), nn.ReLU(inplace=True)]
                    c_in = int(v * width)
            self.features = nn.Sequential(*layers)
            hidden = int(4096 * width)
            self.embeddings = nn.Sequential(
                nn.Linear(c_in * 4 * 6, hidden),
                nn.ReLU(True),
                nn.Linear(hidden, hidden),
                nn.ReLU(True),
                nn.Linear(hidden, 128),
                nn.ReLU(True),
            )

        def forward(self, x):  # x [B, 1, 96, 64]
            x = self.features(x)
            x = torch.transpose(x, 1, 3)  # the TensorFlow model flattens channels-last
            x = torch.transpose(x, 1, 2).contiguous()
            return self.embeddings(x.view(x.size(0), -1))

    return VGGish()


class VGGishEmbedding(Embedding):
    name = "vggish"
    sample_rate = 16000

    def __init__(self, weights, device: str = "cpu"):
        import torch

        self.path = _weights_file(weights, self.name)
        self.weights_sha256 = _sha256(self.path)
        self.device = torch.device(device)
        state = _load_state(self.path, self.name)
        self.net = vggish_network(_width(state, "features.0.weight", self.path, self.name))
        _load_strict(self.net, state, self.path, self.name)
        self.net.to(self.device).eval()

    def examples(self, x: np.ndarray) -> np.ndarray:
        """VGGish's input: log mel (25 ms windows, 10 ms hop, 64 HTK mel bands 125-7500 Hz, log(mel + 0.01))
        cut into non-overlapping 0.96 s examples [n, 96, 64]; a clip under 0.96 s is zero-padded."""
        mel = _log_mel(
            np.asarray(x, np.float32),
            16000,
            512,
            400,
            160,
            64,
            125.0,
            7500.0,
            True,
            1,
            lambda m: np.log(m + 0.01),
        )
        if mel.shape[0] < 96:
            mel = np.pad(mel, ((0, 96 - mel.shape[0]), (0, 0)), constant_values=np.log(0.01))
        n = mel.shape[0] // 96
        return mel[: n * 96].reshape(n, 96, 64)

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        ex = torch.from_numpy(self.examples(x)).unsqueeze(1).to(self.device)
        with torch.inference_mode():
            return self.net(ex).mean(dim=0).float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return _describe(
            self, "VGGish 128-d output per 0.96 s example (before PCA), averaged over the clip", 128
        )


# ---- PANNs CNN14 ------------------------------------------------------------------------------------------------


def cnn14_network(classes: int = 527, width: float = 1.0):
    """PANNs CNN14 with the published parameter names (bn0, conv_block1..6, fc1, fc_audioset); `width`
    scales the channels (1 = the published network)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ConvBlock(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.bn2 = nn.BatchNorm2d(c_out)

        def forward(self, x, pool):
            x = F.relu_(self.bn1(self.conv1(x)))
            x = F.relu_(self.bn2(self.conv2(x)))
            return F.avg_pool2d(x, kernel_size=pool)

    class Cnn14(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn0 = nn.BatchNorm2d(64)
            chans = (1,) + tuple(int(c * width) for c in (64, 128, 256, 512, 1024, 2048))
            for i in range(6):
                setattr(self, f"conv_block{i + 1}", ConvBlock(chans[i], chans[i + 1]))
            self.fc1 = nn.Linear(chans[-1], chans[-1], bias=True)
            self.fc_audioset = nn.Linear(chans[-1], classes, bias=True)

        def forward(self, logmel):  # [B, 1, frames, 64]
            x = self.bn0(logmel.transpose(1, 3)).transpose(1, 3)
            for i in range(6):
                x = getattr(self, f"conv_block{i + 1}")(x, (2, 2) if i < 5 else (1, 1))
            x = torch.mean(x, dim=3)
            x = torch.max(x, dim=2)[0] + torch.mean(x, dim=2)
            return F.relu_(self.fc1(x))

    return Cnn14()


class CNN14Embedding(Embedding):
    name = "panns-cnn14"
    sample_rate = 32000

    def __init__(self, weights, device: str = "cpu"):
        import torch

        self.path = _weights_file(weights, self.name)
        self.weights_sha256 = _sha256(self.path)
        self.device = torch.device(device)
        state = _load_state(self.path, self.name)
        classes = state["fc_audioset.weight"].shape[0] if "fc_audioset.weight" in state else 527
        self.net = cnn14_network(classes, _width(state, "conv_block1.conv1.weight", self.path, self.name))
        # the published file also holds torchlibrosa's STFT and mel matrices; s2w computes the same log mel
        # with librosa (parameters below), so those entries are not used
        _load_strict(
            self.net,
            state,
            self.path,
            self.name,
            ignore_prefixes=("spectrogram_extractor.", "logmel_extractor."),
        )
        self.net.to(self.device).eval()

    @staticmethod
    def log_mel(x: np.ndarray) -> np.ndarray:
        """CNN14's front end: power STFT (1024, hop 320, Hann, centred), 64 Slaney mel bands 50-14000 Hz,
        10 log10(max(mel, 1e-10))."""
        return _log_mel(
            np.asarray(x, np.float32),
            32000,
            1024,
            1024,
            320,
            64,
            50.0,
            14000.0,
            False,
            2,
            lambda m: 10.0 * np.log10(np.maximum(m, 1e-10)),
        )

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        mel = self.log_mel(x)
        if mel.shape[0] < 32:  # five 2x2 poolings need at least 32 frames (0.32 s)
            mel = np.pad(mel, ((0, 32 - mel.shape[0]), (0, 0)), mode="edge")
        t = torch.from_numpy(mel).view(1, 1, *mel.shape).to(self.device)
        with torch.inference_mode():
            return self.net(t)[0].float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return _describe(
            self, "PANNs CNN14 embedding (fc1 output, time max + mean pooled)", self.net.fc1.out_features
        )


# ---- transformers backends ----------------------------------------------------------------------------------------


def _hf_folder(weights, name: str) -> tuple[Path, Path, dict]:
    folder = Path(weights)
    if not folder.is_dir():
        raise DataError(
            f"the {name} embedding reads a Hugging Face model folder (config.json + weights)",
            folder,
            "give the folder you downloaded the model into",
        )
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise DataError(f"no config.json in the {name} model folder", folder)
    for fname in ("model.safetensors", "pytorch_model.bin"):
        if (folder / fname).is_file():
            try:
                cfg = json.loads(cfg_path.read_text())
            except json.JSONDecodeError as exc:
                raise DataError(f"config.json is not JSON ({exc})", cfg_path) from exc
            return folder, folder / fname, cfg
    raise DataError(f"no model.safetensors or pytorch_model.bin in the {name} model folder", folder)


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise UsageError("this embedding needs the transformers package", fix=_TRANSFORMERS_FIX) from exc
    return transformers


class _HFEmbedding(Embedding):
    model_class = ""
    config_class = ""

    def __init__(self, weights, device: str = "cpu"):
        import torch

        tr = _transformers()
        self.folder, self.path, cfg = _hf_folder(weights, self.name)
        self.weights_sha256 = _sha256(self.path)
        self.device = torch.device(device)
        config = self.make_config(tr, cfg)
        self.net = getattr(tr, self.model_class)(config)
        _load_strict(self.net, _load_state(self.path, self.name), self.path, self.name, self.ignored_prefixes)
        self.net.to(self.device).eval()
        self.config = config

    ignored_prefixes: tuple[str, ...] = ()

    def make_config(self, tr, cfg: dict):
        return getattr(tr, self.config_class).from_pretrained(str(self.folder), local_files_only=True)


class CLAPEmbedding(_HFEmbedding):
    name = "clap"
    sample_rate = 48000
    model_class = "ClapModel"
    config_class = "ClapConfig"
    # position ids are buffers in some transformers versions and not in others
    ignored_prefixes = ("text_model.embeddings.position_ids",)

    def __init__(self, weights, device: str = "cpu"):
        super().__init__(weights, device)
        tr = _transformers()
        if (self.folder / "preprocessor_config.json").is_file():
            self.fe = tr.ClapFeatureExtractor.from_pretrained(str(self.folder), local_files_only=True)
        else:
            self.fe = tr.ClapFeatureExtractor()
        self.sample_rate = int(self.fe.sampling_rate)

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = np.asarray(x, np.float32)
        fusion = bool(getattr(self.config.audio_config, "enable_fusion", False))
        # clips longer than the model's window (10 s) are cut into windows here, so that the extractor's random
        # crop ("rand_trunc") never runs: an embedding must not depend on a random draw
        win = int(self.fe.nb_max_samples)
        parts = [x] if fusion or x.size <= win else [x[i : i + win] for i in range(0, x.size, win)]
        outs = []
        for part in parts:
            feats = self.fe(
                part,
                sampling_rate=self.sample_rate,
                return_tensors="pt",
                truncation="fusion" if fusion else "rand_trunc",
                padding="repeatpad",
            )
            feats = {k: v.to(self.device) for k, v in feats.items() if k in ("input_features", "is_longer")}
            with torch.inference_mode():
                out = self.net.get_audio_features(**feats)
            out = out if isinstance(out, torch.Tensor) else out.pooler_output
            outs.append(out[0].float())
        v = torch.stack(outs).mean(dim=0)
        return torch.nn.functional.normalize(v, dim=0).cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return _describe(
            self, "CLAP projected audio embedding (L2-normalised)", int(self.config.projection_dim)
        )


class EncodecEmbedding(_HFEmbedding):
    name = "encodec"
    model_class = "EncodecModel"
    config_class = "EncodecConfig"

    def __init__(self, weights, device: str = "cpu"):
        super().__init__(weights, device)
        self.sample_rate = int(self.config.sampling_rate)

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        t = torch.from_numpy(np.asarray(x, np.float32)).view(1, 1, -1).to(self.device)
        if self.config.audio_channels == 2:
            t = t.repeat(1, 2, 1)
        with torch.inference_mode():
            z = self.net.encoder(t)  # [1, hidden, frames]
        return z[0].mean(dim=-1).float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return _describe(
            self,
            "EnCodec encoder latent (before quantisation), averaged over time",
            int(self.config.hidden_size),
        )


class MERTEmbedding(_HFEmbedding):
    name = "mert"
    model_class = "HubertModel"

    def make_config(self, tr, cfg: dict):
        # MERT's config.json names its own model type and remote code; its HuBERT fields are what we need
        fields = {k: v for k, v in cfg.items() if k not in ("architectures", "auto_map", "model_type")}
        if fields.get("feature_extractor_cqt"):
            raise DataError(
                "this MERT model has a CQT feature extractor, which HuBERT's architecture lacks",
                self.folder / "config.json",
                "use a MERT-v1 model without feature_extractor_cqt",
            )
        return tr.HubertConfig(**fields)

    def __init__(self, weights, device: str = "cpu"):
        super().__init__(weights, device)
        self.sample_rate = int(getattr(self.config, "sample_rate", 24000) or 24000)

    def embed(self, x: np.ndarray) -> np.ndarray:
        import torch

        x = np.asarray(x, np.float32)
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # MERT's feature extractor normalises each clip
        t = torch.from_numpy(x).view(1, -1).to(self.device)
        with torch.inference_mode():
            h = self.net(t).last_hidden_state  # [1, frames, hidden]
        return h[0].mean(dim=0).float().cpu().numpy()

    def describe(self) -> dict[str, Any]:
        return _describe(self, "MERT last hidden state, averaged over time", int(self.config.hidden_size))


def _describe(emb: Embedding, definition: str, dims: int) -> dict[str, Any]:
    return {
        "embedding": emb.name,
        "definition": definition,
        "dims": dims,
        "weights": str(emb.path),
        "weights_sha256": emb.weights_sha256,
        "sample_rate": emb.sample_rate,
        "input": f"mono, {emb.sample_rate} Hz, float [-1, 1]",
    }


BACKENDS = {
    "vggish": VGGishEmbedding,
    "panns-cnn14": CNN14Embedding,
    "clap": CLAPEmbedding,
    "encodec": EncodecEmbedding,
    "mert": MERTEmbedding,
}
