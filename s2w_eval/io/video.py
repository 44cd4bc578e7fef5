"""Video IO through PyAV, in one place: probe, stream frames at a fixed rate, stream audio, write, RGB -> HSV.

- `probe_video(path)` reads the container headers (and the first packets' timestamps) without decoding: duration,
  frame rate, size, audio stream, variable frame rate.
- `read_frames(path, fps=10, size=(100, 100))` is a generator of `(t, rgb)`: `t` the target time in seconds
  (start + k / fps), `rgb` uint8 (H, W, 3). Frames are chosen by presentation timestamp: the frame shown at time
  `t` (the latest frame whose timestamp is <= t), so 30, 29.97, 25 fps and variable-frame-rate inputs all give
  exactly one frame every 1/fps seconds. Only the chosen frames are scaled (swscale, bilinear) and converted;
  one decoded frame is held at a time, so memory does not grow with the movie's length.
- `read_audio_chunks(path, sample_rate=16000, downmix="average")` streams the first audio track as float32 mono
  chunks (soxr HQ resampling, the same as `s2w_eval.io.audio.resample`), placed by the first frame's timestamp.
- `write_video(path, frames, fps, audio=None, sample_rate=None)` writes H.264 (+ AAC) atomically.
- `rgb_to_hsv` is skimage's `rgb2hsv`, i.e. the paper's Eqs. 1-7 (H, S, V in [0, 1]; H = S = 0 where max == min;
  on ties of the maximum the later rule wins: blue over green over red).

Every fault (missing, empty, unreadable file, no video/audio stream, corrupt stream) is a `DataError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DataError, UsageError
from ..vocab import VIDEO_EXTENSIONS  # noqa: F401 - re-exported

DOWNMIX_POLICIES = ("average", "left")
_EPS = 1e-4  # seconds; timestamps are rounded to the stream's time base


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video file."""

    path: str
    duration: float  # seconds (longest of container / video stream / audio stream)
    video_duration: float
    fps: float  # average frame rate
    width: int
    height: int
    frames: int  # from the header, or duration * fps when the header lacks it
    codec: str
    has_audio: bool
    audio_duration: float | None
    audio_rate: int | None
    audio_channels: int | None
    variable_frame_rate: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError("file not found", path)
    if path.is_dir():
        raise DataError("is a folder, not a video file", path)
    if path.stat().st_size == 0:
        raise DataError("empty file (0 bytes)", path, "re-export the video")


def _open(path: str | Path):
    import av

    path = Path(path)
    _check_file(path)
    try:
        return av.open(str(path))
    except Exception as exc:  # PyAV raises its own FFmpegError subclasses, plus OSError variants
        raise DataError(
            f"unreadable video ({type(exc).__name__}: {exc})",
            path,
            "check that the file is a valid video (ffprobe it)",
        ) from exc


def _stream_duration(stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def probe_video(path: str | Path, vfr_packets: int = 300) -> VideoInfo:
    """Container facts without decoding. Variable frame rate: the first `vfr_packets` video packets' timestamp
    steps differ by more than 10 % (or the average rate differs from the nominal one by more than 1 %)."""
    path = Path(path)
    container = _open(path)
    with container:
        vstreams = [s for s in container.streams if s.type == "video"]
        if not vstreams:
            raise DataError("no video stream", path, "give a file that contains video")
        v = vstreams[0]
        astreams = [s for s in container.streams if s.type == "audio"]
        a = astreams[0] if astreams else None
        rate = v.average_rate or v.guessed_rate or v.base_rate
        fps = float(rate) if rate else 0.0
        vdur = _stream_duration(v)
        cdur = float(container.duration / 1_000_000) if container.duration else None
        adur = _stream_duration(a) if a is not None else None
        # timestamps of the first packets (demuxing only, cheap)
        pts: list[int] = []
        try:
            for packet in container.demux(v):
                if packet.pts is not None:
                    pts.append(packet.pts)
                if len(pts) >= vfr_packets:
                    break
        except Exception as exc:
            raise DataError(
                f"corrupt video stream ({type(exc).__name__}: {exc})", path, "re-export the video"
            ) from exc
        vfr = False
        if len(pts) >= 3:
            steps = np.diff(np.sort(np.asarray(pts, dtype=np.int64)))
            steps = steps[steps > 0]
            if steps.size:
                med = float(np.median(steps))
                vfr = bool(np.any(np.abs(steps - med) > 0.1 * med))
        nominal = v.base_rate or v.guessed_rate
        if rate and nominal and abs(float(rate) / float(nominal) - 1.0) > 0.01:
            vfr = True
        if not pts and not v.frames:
            raise DataError("video stream holds no frames", path, "re-export the video")
        durations = [d for d in (vdur, cdur, adur) if d]
        duration = max(durations) if durations else (len(pts) / fps if fps else 0.0)
        frames = int(v.frames) if v.frames else round((vdur or duration) * fps)
        return VideoInfo(
            path=str(path),
            duration=float(duration),
            video_duration=float(vdur or cdur or duration),
            fps=fps,
            width=int(v.codec_context.width),
            height=int(v.codec_context.height),
            frames=frames,
            codec=str(v.codec_context.name),
            has_audio=a is not None,
            audio_duration=adur,
            audio_rate=int(a.codec_context.sample_rate or a.rate) if a is not None else None,
            audio_channels=int(a.codec_context.channels) if a is not None else None,
            variable_frame_rate=vfr,
        )


def _frame_time(frame, index: int, fps: float) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return float(frame.pts * frame.time_base)
    t = frame.time
    if t is not None:
        return float(t)
    return index / fps if fps else float(index)


def _to_rgb(frame, size: tuple[int, int] | None) -> np.ndarray:
    if size is None:
        return frame.to_ndarray(format="rgb24")
    h, w = size
    return frame.reformat(width=w, height=h, format="rgb24", interpolation="BILINEAR").to_ndarray()


def read_frames(
    path: str | Path,
    fps: float | None = 10,
    size: tuple[int, int] | None = (100, 100),
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield `(t, rgb)` for t = start, start + 1/fps, ... (< end, and < the end of the video).

    `size` is (height, width) of the output (aspect ratio not preserved, as the original pipeline did); None
    keeps the native size. `fps=None` yields every decoded frame at its own timestamp. Times are measured from
    the video stream's first timestamp.
    """
    path = Path(path)
    if fps is not None and fps <= 0:
        raise UsageError(f"fps must be > 0, got {fps}")
    container = _open(path)
    with container:
        vstreams = [s for s in container.streams if s.type == "video"]
        if not vstreams:
            raise DataError("no video stream", path, "give a file that contains video")
        stream = vstreams[0]
        stream.thread_type = "AUTO"
        src_rate = float(stream.average_rate or stream.guessed_rate or stream.base_rate or 0) or 25.0
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if start > 1.0:
            import av

            try:  # jump near `start` (to the keyframe before it); decoding continues from there
                container.seek(int((start + t0 - 1.0) / stream.time_base), stream=stream, backward=True)
            except (av.FFmpegError, OSError, ValueError):  # a stream that cannot seek: decode from the start
                container.seek(0)
        k = 0
        prev = None
        prev_t = None
        prev_rgb = None
        n = 0
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, n, src_rate) - t0
                n += 1
                if fps is None:
                    if t < start - _EPS:
                        continue
                    if end is not None and t >= end - _EPS:
                        return
                    yield t, _to_rgb(frame, size)
                    continue
                while prev is not None:
                    target = start + k / fps
                    if end is not None and target >= end - _EPS:
                        return
                    if t <= target + _EPS:
                        break
                    # this frame comes after the target: the previous one is on screen at `target`
                    if prev_rgb is None:
                        prev_rgb = _to_rgb(prev, size)
                    yield target, prev_rgb
                    k += 1
                prev, prev_t, prev_rgb = frame, t, None
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"corrupt video stream after {n} frames ({type(exc).__name__}: {exc})",
                path,
                "re-export the video",
            ) from exc
        if fps is None or prev is None:
            if prev is None and n == 0:
                raise DataError("video stream holds no frames", path, "re-export the video")
            return
        # the last decoded frame stays on screen for one frame period
        last_end = prev_t + 1.0 / src_rate
        while True:
            target = start + k / fps
            if (end is not None and target >= end - _EPS) or target >= last_end - _EPS:
                return
            if prev_rgb is None:
                prev_rgb = _to_rgb(prev, size)
            yield target, prev_rgb
            k += 1


def read_audio_chunks(
    path: str | Path,
    sample_rate: int = 16000,
    downmix: str = "average",
    start: float = 0.0,
    end: float | None = None,
) -> Iterator[np.ndarray]:
    """Stream the first audio track as float32 mono chunks at `sample_rate`, from `start` to `end` seconds.

    `downmix`: "average" (mean of all channels) or "left" (channel 0 only, what the original pipeline kept).
    The first decoded frame's timestamp places the samples in time (AAC priming samples, which carry a negative
    timestamp, are dropped); the rest is taken as contiguous.
    """
    # Long on purpose: one decode loop (seek, resample stream, chunking, end-of-stream flush) whose parts
    # share the resampler's state; split, each part would take and return that state.
    import soxr

    path = Path(path)
    if downmix not in DOWNMIX_POLICIES:
        raise UsageError(f"unknown down-mix policy {downmix!r}; choose from {', '.join(DOWNMIX_POLICIES)}")
    container = _open(path)
    with container:
        astreams = [s for s in container.streams if s.type == "audio"]
        if not astreams:
            raise DataError("no audio stream", path, "give a video with a sound track")
        stream = astreams[0]
        sr_in = int(stream.codec_context.sample_rate or stream.rate)
        vstreams = [s for s in container.streams if s.type == "video"]
        ref = vstreams[0] if vstreams else stream
        t_ref = float(ref.start_time * ref.time_base) if ref.start_time is not None else 0.0
        if start > 1.0:
            import av

            try:
                container.seek(int((start + t_ref - 1.0) / stream.time_base), stream=stream, backward=True)
            except (av.FFmpegError, OSError, ValueError):  # a stream that cannot seek: decode from the start
                container.seek(0)
        resampler = (
            soxr.ResampleStream(sr_in, sample_rate, 1, dtype="float32", quality="HQ")
            if sr_in != sample_rate
            else None
        )
        pos_in = None  # time (s) of the next input sample, relative to the video start
        emitted = 0  # output samples yielded so far (counted from `start`)
        limit = None if end is None else int(round((end - start) * sample_rate))
        skip_out = 0  # output samples still to drop before `start`
        n = 0
        try:
            for frame in container.decode(stream):
                n += 1
                x = _audio_frame_mono(frame, downmix)
                if pos_in is None:
                    t = _frame_time(frame, 0, sr_in) - t_ref
                    # drop input before max(start, 0) exactly, at the input rate
                    drop = int(round((max(start, 0.0) - t) * sr_in))
                    if drop > 0:
                        x = x[drop:]
                        t += drop / sr_in
                    elif drop < 0:  # audio starts after `start`: pad with silence
                        x = np.concatenate([np.zeros(-drop, np.float32), x])
                        t += drop / sr_in
                    pos_in = t
                    if x.size == 0:
                        pos_in = None
                        continue
                    skip_out = 0
                y = resampler.resample_chunk(x) if resampler is not None else x
                if skip_out:
                    cut = min(skip_out, y.size)
                    y, skip_out = y[cut:], skip_out - cut
                if limit is not None and emitted + y.size >= limit:
                    y = y[: limit - emitted]
                    if y.size:
                        yield y.astype(np.float32, copy=False)
                    return
                emitted += y.size
                if y.size:
                    yield y.astype(np.float32, copy=False)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"corrupt audio stream after {n} frames ({type(exc).__name__}: {exc})",
                path,
                "re-export the file",
            ) from exc
        if n == 0:
            raise DataError("audio stream holds no samples", path, "re-export the file")
        if resampler is not None:
            y = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if limit is not None:
                y = y[: max(0, limit - emitted)]
            if y.size:
                yield y.astype(np.float32, copy=False)


def _audio_frame_mono(frame, downmix: str) -> np.ndarray:
    arr = frame.to_ndarray()
    if arr.dtype.kind == "i":
        arr = arr.astype(np.float32) / (float(np.iinfo(arr.dtype).max) + 1.0)
    elif arr.dtype.kind == "u":  # unsigned PCM (u8): centred at 2^(bits-1)
        half = float(np.iinfo(arr.dtype).max) / 2.0 + 0.5
        arr = (arr.astype(np.float32) - half) / half
    else:
        arr = arr.astype(np.float32, copy=False)
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        arr = arr.reshape(channels, -1)
    else:
        arr = arr.reshape(-1, channels).T
    if downmix == "left" or channels == 1:
        return np.ascontiguousarray(arr[0], dtype=np.float32)
    return arr.mean(axis=0, dtype=np.float64).astype(np.float32)


def read_audio_track(
    path: str | Path,
    sample_rate: int = 16000,
    downmix: str = "average",
    start: float = 0.0,
    end: float | None = None,
) -> np.ndarray:
    """The whole (or [start, end) of the) audio track as one float32 mono array (for short clips)."""
    chunks = list(read_audio_chunks(path, sample_rate, downmix, start, end))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


# ----------------------------------------------------------------------------------------------------- writing
def write_video(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    *,
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "veryfast",
    audio_bitrate: int = 128_000,
) -> Path:
    """Write RGB uint8 frames ((T, H, W, 3) array or an iterable of (H, W, 3)) as H.264, yuv420p, atomically.

    `audio`: float in [-1, 1], (samples,) mono or (samples, channels), encoded as AAC at `sample_rate`; its
    samples are interleaved with the frames by time. Odd sizes are padded by one edge row/column (yuv420p needs
    even sizes). The file appears at `path` only once complete (temp file in the same folder + rename).
    """
    # Long on purpose: one PyAV muxing session whose video and audio pushes interleave by time; the closures
    # share the container's state, which would have to travel through every helper if split.
    import av

    path = Path(path)
    if fps <= 0:
        raise UsageError(f"fps must be > 0, got {fps}")
    if audio is not None and not sample_rate:
        raise UsageError("write_video: audio given without sample_rate")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    try:
        with av.open(str(tmp), mode="w") as out:
            vs = None
            astream = None
            achannels = 0
            if audio is not None:
                audio = np.asarray(audio, dtype=np.float32)
                if audio.ndim == 1:
                    audio = audio[:, None]
                achannels = audio.shape[1]
                if achannels not in (1, 2):
                    raise UsageError(f"write_video: audio must be mono or stereo, got {achannels} channels")
                audio = np.clip(audio, -1.0, 1.0)
            a_pos = 0
            a_block = 1024
            n = 0

            def push_audio(until_s: float | None) -> None:
                nonlocal a_pos
                if astream is None:
                    return
                stop = audio.shape[0] if until_s is None else min(audio.shape[0], int(until_s * sample_rate))
                while a_pos < stop:
                    chunk = audio[a_pos : min(stop, a_pos + a_block)]
                    af = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(chunk.T),
                        format="fltp",
                        layout="mono" if achannels == 1 else "stereo",
                    )
                    af.sample_rate = sample_rate
                    af.pts = a_pos
                    af.time_base = Fraction(1, sample_rate)
                    for packet in astream.encode(af):
                        out.mux(packet)
                    a_pos += chunk.shape[0]

            for img in frames:
                img = np.asarray(img)
                if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                    raise UsageError(
                        f"write_video: frames must be uint8 (H, W, 3), got {img.dtype} {img.shape}"
                    )
                if img.shape[0] % 2 or img.shape[1] % 2:
                    img = np.pad(img, ((0, img.shape[0] % 2), (0, img.shape[1] % 2), (0, 0)), mode="edge")
                if vs is None:
                    vs = out.add_stream(codec, rate=rate)
                    vs.width, vs.height = img.shape[1], img.shape[0]
                    vs.pix_fmt = "yuv420p"
                    if codec == "libx264":
                        vs.options = {"crf": str(crf), "preset": preset}
                    if audio is not None:
                        astream = out.add_stream("aac", rate=sample_rate)
                        astream.layout = "mono" if achannels == 1 else "stereo"
                        astream.bit_rate = audio_bitrate
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                vf.pts = n
                vf.time_base = 1 / rate
                for packet in vs.encode(vf):
                    out.mux(packet)
                n += 1
                push_audio(n / float(rate))
            if vs is None:
                raise UsageError("write_video: no frames given")
            push_audio(None)
            for packet in vs.encode():
                out.mux(packet)
            if astream is not None:
                for packet in astream.encode():
                    out.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ------------------------------------------------------------------------------------------------------ colour
def rgb_to_hsv(rgb: np.ndarray, dtype=np.float64) -> np.ndarray:
    """RGB (..., 3) -> HSV (..., 3) in [0, 1], exactly skimage.color.rgb2hsv (the paper's Eqs. 1-7).

    uint8 input is scaled by 1/255 first (skimage's img_as_float); float input must already be in [0, 1].
    V = max(R, G, B); S = (V - min) / V (0 where V - min == 0); H = ((G - B) / d, 2 + (B - R) / d,
    4 + (R - G) / d for max = R, G, B; later rules win on ties) / 6 mod 1, and 0 where d == 0.
    """
    arr = np.asarray(rgb)
    if arr.shape[-1] != 3:
        raise UsageError(f"rgb_to_hsv: last axis must be 3 (RGB), got shape {arr.shape}")
    c = [arr[..., i] for i in range(3)]
    hi = np.maximum(np.maximum(c[0], c[1]), c[2])
    lo = np.minimum(np.minimum(c[0], c[1]), c[2])
    # which rule: later rules win on ties (blue over green over red); exact on the raw values
    is_b = c[2] == hi
    is_g = (c[1] == hi) & ~is_b
    if arr.dtype == np.uint8:  # skimage's img_as_float: x / 255 (max/min commute with it exactly)
        r, g, b = (x / 255.0 for x in c)
        v, mn = hi / 255.0, lo / 255.0
    else:
        r, g, b = (x.astype(np.float64, copy=False) for x in c)
        v, mn = hi.astype(np.float64, copy=False), lo.astype(np.float64, copy=False)
    delta = v - mn
    zero = delta == 0.0
    safe = np.where(zero, 1.0, delta)
    s = np.divide(delta, v, out=np.zeros_like(delta), where=~zero)
    num = np.where(is_b, r - g, np.where(is_g, b - r, g - b))
    off = np.where(is_b, 4.0, np.where(is_g, 2.0, 0.0))
    h = off + num / safe
    h /= 6.0
    h %= 1.0
    h[zero] = 0.0
    out = np.stack([h, s, v], axis=-1)
    return out.astype(dtype, copy=False)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV (..., 3) in [0, 1] -> RGB float (..., 3) in [0, 1] (the inverse of `rgb_to_hsv`)."""
    hsv = np.asarray(hsv, dtype=np.float64)
    h, s, v = hsv[..., 0] % 1.0, np.clip(hsv[..., 1], 0, 1), np.clip(hsv[..., 2], 0, 1)
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    choices_r = [v, q, p, p, t, v]
    choices_g = [t, v, v, q, p, p]
    choices_b = [p, p, t, v, v, q]
    r = np.choose(i, choices_r)
    g = np.choose(i, choices_g)
    b = np.choose(i, choices_b)
    return np.stack([r, g, b], axis=-1)
