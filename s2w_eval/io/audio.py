"""Audio IO, in one place: read, down-mix, resample, validate.

`load_audio` reads WAV (16/24/32-bit int, float), FLAC and OGG through soundfile and anything else PyAV
decodes (mp3, m4a, the audio track of an mp4). Multi-channel audio is down-mixed to mono by averaging the
channels; resampling uses soxr (a real band-limited resampler, the one librosa.load uses). A file that is
empty, unreadable, truncated, all zeros or holds NaN/inf raises a `DataError` naming the file and the fault.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, SilentAudioError
from ..vocab import AUDIO_EXTENSIONS  # noqa: F401 - re-exported
from ..vocab import SOUNDFILE_EXTENSIONS as _SOUNDFILE_EXTENSIONS


@dataclass(frozen=True)
class AudioInfo:
    """What the file held before any conversion."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _read_soundfile(path: Path) -> tuple[np.ndarray, AudioInfo]:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises its own RuntimeError subclasses
        raise DataError(
            f"unreadable audio ({exc})", path, "check that the file is a valid audio file"
        ) from exc
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(f"truncated or corrupt audio ({exc})", path, "re-export the file") from exc
    if info.frames > 0 and data.shape[0] < info.frames:
        raise DataError(
            f"truncated audio: header says {info.frames} frames, only {data.shape[0]} could be read",
            path,
            "re-export the file",
        )
    if info.format == "WAV" and info.frames > 0:
        _check_wav_size(path, info)
    return data, AudioInfo(str(path), int(sr), int(data.shape[1]), int(data.shape[0]), str(info.subtype))


def _check_wav_size(path: Path, info) -> None:
    """libsndfile quietly shortens a WAV whose data chunk is cut off; compare the RIFF header with the file."""
    import struct

    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # RF64 / other variants: trust libsndfile
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, csize = struct.unpack("<4sI", fh.read(8))
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF):  # streamed writer that never filled in the size
                    return
                have = size - (pos + 8)
                if have < csize:
                    raise DataError(
                        f"truncated WAV: the header promises {csize} bytes of samples, the file holds {have}",
                        path,
                        "re-export the file",
                    )
                return
            pos += 8 + csize + (csize & 1)


def _read_pyav(path: Path) -> tuple[np.ndarray, AudioInfo]:
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise DataError(
            f"unreadable media file ({exc})", path, "check that the file is a valid audio or video file"
        ) from exc
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise DataError("no audio stream", path, "give a file that contains audio")
        stream = streams[0]
        chunks: list[np.ndarray] = []
        sr = stream.codec_context.sample_rate or stream.rate
        try:
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                if arr.dtype.kind in "iu":
                    scale = float(np.iinfo(arr.dtype).max) + 1.0
                    arr = arr.astype(np.float32) / scale
                else:
                    arr = arr.astype(np.float32)
                if frame.format.is_planar:
                    arr = arr.reshape(len(frame.layout.channels), -1).T
                else:
                    arr = arr.reshape(-1, len(frame.layout.channels))
                chunks.append(arr)
        except Exception as exc:
            raise DataError(f"truncated or corrupt audio stream ({exc})", path, "re-export the file") from exc
    if not chunks:
        raise DataError("empty audio: no samples decoded", path, "give a file that contains audio")
    data = np.concatenate(chunks, axis=0)
    return data, AudioInfo(
        str(path), int(sr), int(data.shape[1]), int(data.shape[0]), f"pyav:{stream.codec_context.name}"
    )


def read_audio(path: str | Path) -> tuple[np.ndarray, AudioInfo]:
    """Read a file as float32 [frames, channels] in [-1, 1] (ints scaled by 2^(bits-1)), validated."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", path)
    if path.is_dir():
        raise DataError("is a folder, not an audio file", path)
    if path.stat().st_size == 0:
        raise DataError("empty file (0 bytes)", path, "re-export the file")
    if path.suffix.lower() in _SOUNDFILE_EXTENSIONS:
        try:
            data, info = _read_soundfile(path)
        except DataError as first:
            # soundfile could not open it: some .wav files hold codecs libsndfile lacks; let PyAV try.
            if "unreadable" not in first.message:
                raise
            try:
                data, info = _read_pyav(path)
            except DataError:
                raise first from None
    else:
        data, info = _read_pyav(path)
    validate_samples(data, path)
    return data, info


def probe_audio(path: str | Path) -> AudioInfo:
    """The file's native rate, channels and length from its header (cheap; no decoding for soundfile formats)."""
    path = Path(path)
    if path.suffix.lower() in _SOUNDFILE_EXTENSIONS:
        import soundfile as sf

        try:
            i = sf.info(str(path))
            return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames), str(i.subtype))
        except Exception:
            pass
    _, info = read_audio(path)
    return info


def validate_samples(data: np.ndarray, path: str | Path) -> None:
    if data.size == 0:
        raise DataError("empty audio: 0 samples", path, "re-export the file")
    if not np.all(np.isfinite(data)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise DataError(f"audio holds {bad} NaN/inf samples", path, "re-export the file")
    if not np.any(data):
        raise SilentAudioError("audio is all zeros (silent)", path, "check the generator wrote real samples")


def to_mono(data: np.ndarray) -> np.ndarray:
    """Down-mix [frames, channels] to mono by averaging the channels."""
    if data.ndim == 1:
        return data.astype(np.float32, copy=False)
    return data.mean(axis=1, dtype=np.float64).astype(np.float32)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality: the same as librosa.load's default)."""
    if sr_in == sr_out:
        return x
    import soxr

    return soxr.resample(x, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def load_audio(path: str | Path, sr: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Load audio as float32 in [-1, 1]: mono [samples] (channels averaged) or [frames, channels].

    `sr=None` keeps the file's rate; otherwise the signal is resampled to `sr`.
    """
    data, info = read_audio(path)
    x = to_mono(data) if mono else data
    if sr is not None and sr != info.sample_rate:
        if mono:
            x = resample(x, info.sample_rate, sr)
        else:
            x = np.stack([resample(x[:, c], info.sample_rate, sr) for c in range(x.shape[1])], axis=1)
        if mono:
            validate_samples(x, path)
        return x, sr
    return x, info.sample_rate


def write_wav(path: str | Path, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> Path:
    """Write a WAV atomically (temp file + rename). `x` float in [-1, 1], [samples] or [frames, channels]."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        sf.write(str(tmp), np.asarray(x), sr, subtype=subtype, format="WAV")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
