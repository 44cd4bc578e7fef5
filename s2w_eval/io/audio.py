"""Audio IO, in one place: read, down-mix, resample, validate.

`load_audio` reads WAV (16/24/32-bit int, float), FLAC and OGG through soundfile and anything else PyAV
decodes (mp3, m4a, the audio track of an mp4). Multi-channel audio is down-mixed to mono by averaging the
channels; resampling uses soxr (a real band-limited resampler, the one librosa.load uses). A file that is
empty, unreadable, truncated, all zeros or holds NaN/inf raises a `DataError` naming the file and the fault.

Hostile headers are refused before anything is decoded or resampled, so one bad clip never costs a run: a
sample rate outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] (a 1 Hz header makes soxr crash the process; a few Hz
make the resampled clip need gigabytes), a clip longer than MAX_SECONDS, and float samples beyond
+-MAX_ABS_SAMPLE (finite, but no audio: +-3e38 overflows every later computation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, SilentAudioError
from ..vocab import AUDIO_EXTENSIONS  # noqa: F401 - re-exported
from ..vocab import SOUNDFILE_EXTENSIONS as _SOUNDFILE_EXTENSIONS

# Bounds on what a header may claim (checked before decoding or resampling).
MIN_SAMPLE_RATE = 1_000  # below any real audio format (telephone audio is 8 kHz)
MAX_SAMPLE_RATE = 768_000  # the highest rate audio hardware offers
MAX_SECONDS = 4 * 3600.0  # a feature film's soundtrack; longer is a broken header, not a clip
# Float audio is [-1, 1]; slightly over full scale happens, 60 dB over it is not audio (int samples
# stored as float, or garbage). Chosen far below where float32 arithmetic overflows.
MAX_ABS_SAMPLE = 1_000.0


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
    check_header(path, int(info.samplerate), int(info.frames))
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
        check_rate(sr, path)
        max_frames = int(MAX_SECONDS * sr)
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += frame.samples
                if decoded > max_frames:
                    raise DataError(
                        f"audio longer than {MAX_SECONDS / 3600:g} h",
                        path,
                        "cut the clip; s2w scores clips, not whole recordings",
                    )
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
        except DataError:
            raise
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
        except Exception:
            i = None
        if i is not None:
            check_header(path, int(i.samplerate), int(i.frames))
            return AudioInfo(str(path), int(i.samplerate), int(i.channels), int(i.frames), str(i.subtype))
    _, info = read_audio(path)
    return info


def check_rate(sr: float, path: str | Path | None = None) -> None:
    """A sample rate s2w can decode and resample; anything else is a broken or hostile header."""
    if not (MIN_SAMPLE_RATE <= (sr or 0) <= MAX_SAMPLE_RATE):
        raise DataError(
            f"implausible sample rate {sr} Hz in the header (s2w reads {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz)",
            path,
            "re-export the file at its real sample rate",
        )


def check_header(path: str | Path, sr: int, frames: int) -> None:
    """Rate and length from a header, checked before a sample is decoded."""
    check_rate(sr, path)
    if frames > MAX_SECONDS * sr:
        raise DataError(
            f"header claims {frames / sr / 3600:.1f} h of audio (s2w reads at most {MAX_SECONDS / 3600:g} h)",
            path,
            "cut the clip, or re-export the file if the header is wrong",
        )


def validate_samples(data: np.ndarray, path: str | Path, max_abs: float | None = MAX_ABS_SAMPLE) -> None:
    """Refuse empty, NaN/inf, absurdly large (beyond `max_abs`; None: no bound) and all-zero audio."""
    if data.size == 0:
        raise DataError("empty audio: 0 samples", path, "re-export the file")
    if not np.all(np.isfinite(data)):
        bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        raise DataError(f"audio holds {bad} NaN/inf samples", path, "re-export the file")
    peak = float(np.max(np.abs(data)))
    if max_abs is not None and peak > max_abs:
        raise DataError(
            f"samples reach {peak:.3g}; float audio lies in [-1, 1] (s2w accepts up to +-{max_abs:g})",
            path,
            "write float samples in [-1, 1] (integer-scaled floats: divide by 32768)",
        )
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
    check_rate(sr_in)
    check_rate(sr_out)
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
