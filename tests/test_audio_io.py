"""Audio IO: every supported format reads back the same signal; every bad file is a named DataError."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from s2w_eval.errors import DataError
from s2w_eval.io.audio import load_audio, probe_audio, read_audio, resample, to_mono

SR = 16000


def _signal(seconds=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize(
    "subtype,tol", [("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-8), ("FLOAT", 0.0)]
)
def test_wav_bit_depths_read_in_unit_range(tmp_path, subtype, tol):
    x = _signal()
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, x, SR, subtype=subtype)
    y, sr = load_audio(path)
    assert sr == SR and y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= tol + 1e-7


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg")])
def test_flac_and_ogg(tmp_path, fmt, ext):
    x = _signal()
    path = tmp_path / f"x.{ext}"
    sf.write(path, x, SR, format=fmt)
    y, sr = load_audio(path)
    assert sr == SR
    n = min(len(x), len(y))
    assert np.corrcoef(x[:n], y[:n])[0, 1] > 0.99


def _encode_pyav(path, x, sr, codec, container_fmt=None):
    import av

    with av.open(str(path), "w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((x[None, :] * 32767).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.mark.parametrize("ext,codec", [("m4a", "aac"), ("mp4", "aac"), ("mp3", "mp3")])
def test_pyav_formats(tmp_path, ext, codec):
    import av

    x = _signal(1.0, 44100)
    path = tmp_path / f"x.{ext}"
    try:
        _encode_pyav(path, x, 44100, codec, "mp4" if ext in ("m4a", "mp4") else None)
    except (av.error.FFmpegError, ValueError) as exc:  # an encoder missing from this FFmpeg build
        pytest.skip(f"PyAV cannot encode {codec} here: {exc}")
    y, sr = load_audio(path)
    assert sr == 44100
    assert abs(len(y) - len(x)) < 4096  # codec priming/padding
    # lossy codecs delay the signal; compare energies instead of samples
    assert abs(np.sqrt(np.mean(y**2)) - np.sqrt(np.mean(x**2))) < 0.05


def test_stereo_is_averaged(tmp_path):
    left = _signal()
    right = np.zeros_like(left) + 0.1
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], axis=1), SR, subtype="FLOAT")
    y, _ = load_audio(path)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)
    data, info = read_audio(path)
    assert info.channels == 2 and data.shape == (len(left), 2)
    assert to_mono(data).shape == left.shape


def test_resample_is_band_limited_not_sliced(tmp_path):
    sr_in, sr_out = 44100, 22050
    t = np.arange(sr_in) / sr_in
    x = (0.5 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 15000 * t)).astype(np.float32)
    y = resample(x, sr_in, sr_out)
    assert len(y) == sr_out
    spec = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(len(y) - 4000)))
    freqs = np.fft.rfftfreq(len(y) - 4000, 1 / sr_out)
    # 15 kHz is above the new Nyquist: a real resampler removes it; slicing would alias it to 7050 Hz.
    alias = spec[np.argmin(np.abs(freqs - 7050))]
    tone = spec[np.argmin(np.abs(freqs - 1000))]
    assert alias < 1e-3 * tone
    path = tmp_path / "r.wav"
    sf.write(path, x, sr_in, subtype="FLOAT")
    z, sr = load_audio(path, sr=sr_out)
    assert sr == sr_out and np.allclose(z, y)
    assert probe_audio(path).sample_rate == sr_in


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as e:
        load_audio(p)
    assert str(p) in str(e.value)


def test_unreadable_file(tmp_path):
    p = tmp_path / "junk.wav"
    p.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(DataError, match="unreadable") as e:
        load_audio(p)
    assert "junk.wav" in str(e.value)


def test_truncated_wav(tmp_path):
    p = tmp_path / "cut.wav"
    sf.write(p, _signal(), SR, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated") as e:
        load_audio(p)
    assert "cut.wav" in str(e.value)


def test_all_zeros(tmp_path):
    p = tmp_path / "zeros.wav"
    sf.write(p, np.zeros(1000, np.float32), SR)
    with pytest.raises(DataError, match="all zeros"):
        load_audio(p)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf(tmp_path, bad):
    x = _signal()
    x[100] = bad
    p = tmp_path / "nan.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN/inf"):
        load_audio(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_video_without_audio_stream(tmp_path):
    import av

    p = tmp_path / "silent.mp4"
    with av.open(str(p), "w") as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        for _ in range(3):
            f = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for pkt in s.encode(f):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
    with pytest.raises(DataError, match="no audio stream"):
        load_audio(p)
