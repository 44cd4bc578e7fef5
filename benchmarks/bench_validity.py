"""Benchmark of the validity checks (s2w_eval.metrics.validity): milliseconds per clip, and for a whole run.

Per 3 s clip at 22050 and 44100 Hz: `clip_stats` (RMS, peak, flat tops, spectral flatness), `copy_similarity`
(every lag of the waveforms' cross-correlation through one FFT) and `spectral_shape` (third-octave bands);
then `validity_block` on a run of N samples x 3 conditions + the reference. Best of 5 repeats each. No
baseline: nothing else computes these; the goal is that checks cost a few ms per clip, next to CDPAM's
seconds.

    python benchmarks/bench_validity.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from s2w_eval.metrics.validity import clip_stats, copy_similarity, spectral_shape, validity_block  # noqa: E402
from s2w_eval.results import atomic_write_json, provenance  # noqa: E402
from tests.test_validity import tune  # noqa: E402


def best_ms(fn, *args, repeats: int = 5) -> float:
    fn(*args)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a run of 4 samples instead of 10")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "validity.json")
    args = ap.parse_args(argv)

    rows, summary = [], {}
    for sr in (22050, 44100):
        x, y = tune(0, sr=sr), tune(1, sr=sr)
        per = {
            "clip_stats": best_ms(clip_stats, x, sr),
            "copy_similarity": best_ms(copy_similarity, x, y, sr),
            "spectral_shape": best_ms(spectral_shape, x, sr),
        }
        per["total"] = sum(per.values())
        summary[f"ms_per_3s_clip_{sr}"] = per
        rows.append([f"3 s at {sr} Hz", *(f"{per[k]:.1f}" for k in per)])
    n = 4 if args.quick else 10
    rng = np.random.default_rng(0)
    refs = {f"s{i}": (tune(10 + i), 22050) for i in range(n)}
    conds = {
        "baseline": {
            s: (0.003 * np.sin(np.arange(3 * 22050) * 2 * np.pi * 2000 / 22050), 22050) for s in refs
        },
        "scene2wav": {s: (rng.uniform(-1, 1, 3 * 22050), 22050) for s in refs},
        "other": {s: (tune(100 + i), 22050) for i, s in enumerate(refs)},
    }
    block_ms = best_ms(validity_block, conds, refs, repeats=3)
    clips = n * 4
    summary.update(
        {"run_samples": n, "run_clips": clips, "block_ms": block_ms, "block_ms_per_clip": block_ms / clips}
    )
    print(
        tabulate(
            rows, headers=["clip", "clip_stats ms", "copy_similarity ms", "spectral_shape ms", "total ms"]
        )
    )
    print(
        f"validity_block: {n} samples x 3 conditions + reference ({clips} clips): {block_ms:.0f} ms "
        f"({block_ms / clips:.1f} ms per clip)"
    )
    atomic_write_json(
        args.json, {"provenance": provenance(command="benchmarks/bench_validity.py"), "summary": summary}
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
