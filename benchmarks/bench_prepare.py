"""Benchmark `data prepare` (streaming, memory-mapped shards) against a naive whole-movie-in-memory baseline.

Input: one synthetic movie (`data synth`, 25 fps 120x160, stereo 22.05 kHz AAC) of --minutes minutes (10 by default,
2 with --quick). Both sides run in a forked child of this process (so each one's peak RSS is its own), one after
the other, on the same file:
- s2w: `s2w_models.data.prepare.prepare` (one streaming pass for frames, one for audio, uint8 HSV shards written
  with plain file writes);
- baseline ("decode everything first", as the original moviepy pipeline did): every native frame decoded to
  RGB in one array, every audio sample in one array (load_audio, soxr one-shot), then 10 fps selection, resize
  (swscale bilinear from RGB), HSV float64 (the original's dtype), int16 audio.
Results must agree: identical labels, audio within 2 LSB, HSV within a small tolerance (the two resize from
different pixel formats: YUV for s2w, RGB for the baseline).

Usage: python benchmarks/bench_prepare.py [--quick] [--minutes M] [--json PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_s2w(src: str, out: str, q) -> None:
    from s2w_models.data.prepare import prepare

    base = _maxrss_mb()
    t = time.perf_counter()
    res = prepare(src, out, progress=False, split="auto")
    q.put(
        {
            "seconds": time.perf_counter() - t,
            "peak_rss_mb": _maxrss_mb(),
            "rss_before_mb": base,
            "splices": len(res.rows),
            "problems": [p.format() for p in res.problems],
        }
    )


def run_baseline(src: str, out: str, q) -> None:
    import av

    from s2w_eval.io.audio import load_audio
    from s2w_eval.io.video import rgb_to_hsv
    from s2w_models.data.annotations import parse_annotation, splice_labels

    base = _maxrss_mb()
    t = time.perf_counter()
    movie = Path(src) / "synth01"
    video = movie / "video.mp4"
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        times, frames = [], []
        for f in c.decode(stream):
            times.append(float(f.pts * f.time_base))
            frames.append(f.to_ndarray(format="rgb24"))
        duration = float(c.duration / 1e6)
    allframes = np.stack(frames)  # the whole movie at native size, as the original held it
    del frames
    audio, sr = load_audio(video, sr=16000)  # the whole track, channels averaged
    rows = splice_labels(parse_annotation(movie / "emotion" / "intended_1.dat"), duration, 3)
    n = len(rows)
    times = np.asarray(times) - times[0]
    hsv = np.empty((n, 30, 3, 100, 100), np.float64)
    for k in range(n):
        for j in range(30):
            tt = 3 * k + j / 10
            i = int(np.searchsorted(times, tt + 1e-4, side="right")) - 1
            img = (
                av.VideoFrame.from_ndarray(allframes[i], format="rgb24")
                .reformat(width=100, height=100, format="rgb24", interpolation="BILINEAR")
                .to_ndarray()
            )
            hsv[k, j] = rgb_to_hsv(img).transpose(2, 0, 1)
    pcm = np.zeros(n * 48000, np.float32)
    m = min(pcm.size, audio.size)
    pcm[:m] = audio[:m]
    pcm = np.clip(np.rint(pcm * 32768), -32768, 32767).astype(np.int16).reshape(n, 48000)
    elapsed = time.perf_counter() - t
    np.save(Path(out) / "hsv_u8.npy", np.rint(hsv * 255).astype(np.uint8))
    np.save(Path(out) / "audio.npy", pcm)
    q.put(
        {
            "seconds": elapsed,
            "peak_rss_mb": _maxrss_mb(),
            "rss_before_mb": base,
            "splices": n,
            "labels": [r["emotion"] for r in rows],
            "hsv_float64_mb": hsv.nbytes / 2**20,
            "frames_in_memory_mb": allframes.nbytes / 2**20,
        }
    )


def _child(fn, *args) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 2-minute movie (< 2 min wall)")
    ap.add_argument("--minutes", type=float, default=None, help="movie length (default 10, 2 with --quick)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "prepare.json"))
    args = ap.parse_args(argv)
    minutes = args.minutes or (2.0 if args.quick else 10.0)
    import pandas as pd
    from tabulate import tabulate

    from s2w_eval.results import atomic_write_json, provenance
    from s2w_models.data.dataset import SpliceDataset
    from s2w_models.data.synth import synthesize

    with tempfile.TemporaryDirectory(prefix="bench_prepare_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        synthesize(tmp / "src", minutes=minutes, seed=0, movies=1, progress=False)
        synth_s = time.perf_counter() - t
        (tmp / "s2w").mkdir()
        (tmp / "base").mkdir()
        s2w = _child(run_s2w, str(tmp / "src"), str(tmp / "s2w"))
        base = _child(run_baseline, str(tmp / "src"), str(tmp / "base"))
        # same results?
        df = pd.read_csv(tmp / "s2w" / "samples.csv")
        ds = SpliceDataset(tmp / "s2w", None)
        frames, audio = ds.shard("synth01")
        b_hsv = np.load(tmp / "base" / "hsv_u8.npy", mmap_mode="r")
        b_audio = np.load(tmp / "base" / "audio.npy", mmap_mode="r")
        labels_equal = df.emotion.tolist() == base["labels"] and len(df) == base["splices"]
        n = min(len(df), base["splices"])
        hsv_diff = np.abs(frames[:n, :, 1:].astype(np.int16) - b_hsv[:n, :, 1:].astype(np.int16))  # S, V
        hsv_mean_diff = float(hsv_diff.mean()) / 255
        audio_max_lsb = int(np.abs(audio[:n].astype(np.int32) - b_audio[:n].astype(np.int32)).max())
    same = labels_equal and hsv_mean_diff < 0.02 and audio_max_lsb <= 2
    table = [
        [
            "s2w (streaming, uint8 npy shards)",
            s2w["splices"],
            f"{s2w['seconds']:.1f}",
            f"{s2w['splices'] / s2w['seconds']:.1f}",
            f"{s2w['peak_rss_mb']:.0f}",
        ],
        [
            "baseline (whole movie in memory, float64)",
            base["splices"],
            f"{base['seconds']:.1f}",
            f"{base['splices'] / base['seconds']:.1f}",
            f"{base['peak_rss_mb']:.0f}",
        ],
    ]
    print(f"movie: {minutes:g} min synthetic (25 fps, 120x160, stereo AAC); synthesized in {synth_s:.1f} s")
    print(
        tabulate(
            table, headers=["method", "splices", "seconds", "splices/s", "peak RSS MB"], tablefmt="github"
        )
    )
    print(
        f"same results: labels {labels_equal}, mean |S,V diff| {hsv_mean_diff:.4f}, audio max diff "
        f"{audio_max_lsb} LSB -> {'OK' if same else 'MISMATCH'}"
    )
    summary = {
        "movie_minutes": minutes,
        "splices": s2w["splices"],
        "s2w_splices_per_s": s2w["splices"] / s2w["seconds"],
        "baseline_splices_per_s": base["splices"] / base["seconds"],
        "speedup": base["seconds"] / s2w["seconds"],
        "s2w_peak_rss_mb": s2w["peak_rss_mb"],
        "baseline_peak_rss_mb": base["peak_rss_mb"],
        "memory_ratio": base["peak_rss_mb"] / s2w["peak_rss_mb"],
        "same_results": same,
        "hsv_mean_abs_diff": hsv_mean_diff,
        "audio_max_diff_lsb": audio_max_lsb,
    }
    atomic_write_json(
        args.json,
        {
            "summary": summary,
            "s2w": s2w,
            "baseline": {k: v for k, v in base.items() if k != "labels"},
            "synth_seconds": synth_s,
            "provenance": provenance(command="benchmarks/bench_prepare.py", seeds={"synth": 0}),
        },
    )
    print(f"wrote {args.json}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
