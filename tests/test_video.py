"""PyAV video IO: probing, fixed-rate frame streams, audio streams, atomic writing, and the HSV conversion."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from s2w_eval.errors import DataError, UsageError
from s2w_eval.io.video import (
    hsv_to_rgb,
    probe_video,
    read_audio_track,
    read_frames,
    rgb_to_hsv,
    write_video,
)

from .conftest import NO_DATA, TEST_DATA

DATA = TEST_DATA
SCENES = sorted((DATA / "scene2wav-samples").glob("*/scenes/*.mp4"))


def needs_scenes():
    if not SCENES:
        pytest.skip(f"real scene videos not found under {DATA / 'scene2wav-samples'} ({NO_DATA})")


def hsv_eqs(r: float, g: float, b: float) -> tuple[float, float, float]:
    """The paper's Eqs. 1-7, one pixel at a time, in degrees then scaled to [0, 1] (later rules win on ties)."""
    v = max(r, g, b)
    mn = min(r, g, b)
    d = v - mn
    s = 0.0 if d == 0 else d / v
    if d == 0:
        return 0.0, s, v
    h = 0.0
    if v == r:
        h = 60.0 * (g - b) / d
    if v == g:
        h = 120.0 + 60.0 * (b - r) / d
    if v == b:
        h = 240.0 + 60.0 * (r - g) / d
    if h < 0:
        h += 360.0
    return (h / 360.0) % 1.0, s, v


def test_hsv_matches_equations_on_edge_cases():
    px = np.array(
        [
            [0, 0, 0],
            [255, 255, 255],
            [128, 128, 128],
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [255, 255, 0],
            [0, 255, 255],
            [255, 0, 255],
            [200, 10, 200],
            [10, 200, 200],
            [255, 0, 1],
            [3, 2, 1],
            [1, 2, 3],
            [250, 250, 1],
            [7, 7, 8],
        ],
        dtype=np.uint8,
    )
    hsv = rgb_to_hsv(px)
    for p, got in zip(px, hsv):
        want = hsv_eqs(*(p / 255.0))
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=str(p))
    # ties: yellow (R = G max) takes the green rule (H = 60 deg), magenta (R = B) the blue rule (300 deg)
    assert hsv[6, 0] == pytest.approx(1 / 6)
    assert hsv[8, 0] == pytest.approx(5 / 6)
    assert np.all(hsv[:3, :2] == 0)
    # the inverse used by the synthetic set round-trips
    np.testing.assert_allclose(hsv_to_rgb(hsv), px / 255.0, atol=1e-12)


def test_real_scene_videos_decode_to_10fps_100x100_hsv():
    needs_scenes()
    rng = np.random.default_rng(0)
    checked_rates: set[float] = set()
    for path in SCENES:
        info = probe_video(path)
        assert info.has_audio and not info.variable_frame_rate
        native = list(read_frames(path, fps=None, size=None))
        assert len(native) == info.frames
        assert native[0][1].shape == (info.height, info.width, 3)
        last_end = native[-1][0] + 1 / info.fps
        assert abs(last_end - info.video_duration) < 0.05
        expected = int(np.sum(np.arange(200) / 10 < last_end - 1e-4))
        frames = list(read_frames(path, fps=10, size=(100, 100)))
        assert len(frames) == expected, path.name
        assert expected in (31, 100)  # 3.04 s scenes at 29.97 or 10 fps, 10 s scenes at 25 or 10 fps
        ts = np.array([t for t, _ in frames])
        np.testing.assert_allclose(ts, np.arange(len(ts)) / 10)
        for _t, img in frames:
            assert img.shape == (100, 100, 3) and img.dtype == np.uint8
        if info.fps not in checked_rates:  # once per frame rate (29.97, 25, 10 fps)
            checked_rates.add(info.fps)
            # the frame chosen at t is the native frame on screen at t (full size, to compare exactly)
            full = list(read_frames(path, fps=10, size=None))
            native_t = np.array([t for t, _ in native])
            for t, img in full[:: max(1, len(full) // 7)]:
                j = int(np.searchsorted(native_t, t + 1e-4, side="right")) - 1
                np.testing.assert_array_equal(img, native[j][1])
        stack = np.stack([img for _, img in frames])
        assert stack.std() > 5  # a real picture, not a constant
        hsv = rgb_to_hsv(stack)
        assert hsv.shape == (len(frames), 100, 100, 3)
        assert hsv.min() >= 0 and hsv.max() <= 1
        flat = stack.reshape(-1, 3)
        idx = rng.choice(flat.shape[0], 400, replace=False)
        want = np.array([hsv_eqs(*(flat[i] / 255.0)) for i in idx])
        np.testing.assert_allclose(hsv.reshape(-1, 3)[idx], want, atol=1e-12)


def test_real_scene_audio_track():
    needs_scenes()
    stereo = [p for p in SCENES if probe_video(p).audio_channels == 2][:1]
    for path in stereo:
        avg = read_audio_track(path, 16000, "average")
        left = read_audio_track(path, 16000, "left")
        info = probe_video(path)
        assert abs(avg.size / 16000 - info.audio_duration) < 0.1
        assert avg.dtype == np.float32 and np.abs(avg).max() <= 1.0 and np.abs(avg).max() > 0.01
        assert left.size == avg.size


def _click_track(times, sr, total, channels=1):
    x = np.zeros((total, channels), np.float32)
    for t in times:
        i = int(round(t * sr))
        x[i : i + 40, :] = 0.9
    return x


def test_write_video_roundtrip_alignment_and_atomicity(tmp_path):
    fps, sr, T = 10, 44100, 40
    frames = np.full((T, 48, 64, 3), 20, np.uint8)
    flashes = [0.5, 1.7, 3.2]
    for t in flashes:
        frames[int(round(t * fps))] = 235
    audio = _click_track(flashes, sr, int(T / fps * sr), channels=2)
    audio[:, 1] *= 0.25  # channels differ: the down-mix policies must differ
    out = tmp_path / "v.mp4"
    write_video(out, frames, fps, audio, sr)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    info = probe_video(out)
    assert (info.width, info.height, info.fps, info.frames) == (64, 48, 10.0, T)
    assert info.has_audio and info.audio_channels == 2 and abs(info.duration - 4.0) < 0.1
    got = list(read_frames(out, fps=10, size=None))
    assert len(got) == T
    bright = [t for t, img in got if img.mean() > 128]
    np.testing.assert_allclose(bright, flashes, atol=1e-6)
    avg = read_audio_track(out, 16000, "average")
    left = read_audio_track(out, 16000, "left")
    for t in flashes:  # the clicks land where they were written (AAC priming removed), within 5 ms
        i = int(round(t * 16000))
        seg = np.abs(left[i - 800 : i + 800])
        assert abs(int(np.argmax(seg)) - 800) < 80
    ratio = np.abs(avg).max() / np.abs(left).max()
    assert 0.5 < ratio < 0.75  # (1 + 0.25) / 2 = 0.625
    # a window read [start, end) starts at `start`
    part = read_audio_track(out, 16000, "left", start=1.5, end=2.5)
    assert part.size == 16000
    assert abs(int(np.argmax(np.abs(part))) - 3200) < 80
    sub = list(read_frames(out, fps=10, size=(20, 30), start=1.5, end=2.0))
    assert [round(t, 3) for t, _ in sub] == [1.5, 1.6, 1.7, 1.8, 1.9] and sub[0][1].shape == (20, 30, 3)
    # a failed write leaves nothing behind
    with pytest.raises(UsageError):
        write_video(tmp_path / "bad.mp4", [np.zeros((8, 8), np.uint8)], 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_variable_frame_rate_is_detected_and_sampled_by_timestamp(tmp_path):
    import av

    path = tmp_path / "vfr.mp4"
    times = [0.0, 0.1, 0.15, 0.5, 0.55, 0.6, 1.3, 1.4, 1.5, 1.6, 2.0]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=100)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        s.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            f.pts = int(round(t * 1000))
            f.time_base = Fraction(1, 1000)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert probe_video(path).variable_frame_rate
    got = list(read_frames(path, fps=10, size=None))
    for t, img in got:
        j = max(i for i, ft in enumerate(times) if ft <= t + 1e-4)
        assert abs(float(img.mean()) - 20 * j) < 4, (t, j, img.mean())
    assert len(got) >= 20


def test_bad_files_raise_named_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        probe_video(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        list(read_frames(empty))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DataError, match="unreadable") as err:
        probe_video(junk)
    assert "junk.mp4" in str(err.value)
    silent = tmp_path / "silent.mp4"
    write_video(silent, np.zeros((5, 16, 16, 3), np.uint8), 10)
    assert not probe_video(silent).has_audio
    with pytest.raises(DataError, match="no audio stream"):
        read_audio_track(silent)
