"""Benchmark of the chord / pitch-class detectors (issue 4): clips per second on 3 s and 10 s clips, peak memory,
and accuracy on synthetic piano-like audio with known answers.

Every registered method is measured, `melody-crepe` (CREPE via torchcrepe) included. Baseline: `melody-pyin/1`,
the paper's melody pipeline (pYIN standing in for the closed Melodia plugin),
run in the same process on the same clips. Every method is run twice on one clip to check that it is
deterministic (equal pitch-class sets, notes and chords).

    python benchmarks/bench_chords.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from s2w_eval.features.detect import METHODS, detect  # noqa: E402
from s2w_eval.results import atomic_write_json, provenance  # noqa: E402
from tests.chords_synth import make_set, score  # noqa: E402

BASELINE = "melody-pyin"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer clips (under 2 minutes)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "chords.json")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    n = 1 if args.quick else 2
    clips = make_set(seed=args.seed, n_per_cell=n)
    # warm-up: imports, pYIN's one-off compilation, music21
    for m in METHODS:
        detect(clips[0].audio[: 2 * clips[0].sr], clips[0].sr, m)

    rows, results = [], {}
    for m in METHODS:
        deterministic = True
        a, b = detect(clips[0].audio, clips[0].sr, m), detect(clips[0].audio, clips[0].sr, m)
        deterministic = a.pitch_classes == b.pitch_classes and a.notes == b.notes and a.chords == b.chords
        dets = []
        timing = {}
        tracemalloc.start()
        for dur in (3.0, 10.0):
            sub = [c for c in clips if c.duration == dur]
            t0 = time.perf_counter()
            for c in sub:
                dets.append((c, detect(c.audio, c.sr, m)))
            dt = time.perf_counter() - t0
            timing[dur] = {"clips": len(sub), "seconds": dt, "clips_per_s": len(sub) / dt}
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        acc = score([c for c, _ in dets], [d for _, d in dets])
        results[m] = {
            "method": METHODS[m].id,
            "timing": {str(k): v for k, v in timing.items()},
            "peak_python_mb": peak / 2**20,
            "deterministic": deterministic,
            **acc,
        }
        rows.append(
            [
                METHODS[m].id,
                f"{timing[3.0]['clips_per_s']:.2f}",
                f"{timing[10.0]['clips_per_s']:.2f}",
                f"{peak / 2**20:.0f}",
                f"{acc['pc_precision']:.3f}",
                f"{acc['pc_recall']:.3f}",
                f"{acc['root_accuracy']:.3f}",
                "yes" if deterministic else "NO",
            ]
        )
    base3 = results[BASELINE]["timing"]["3.0"]["clips_per_s"]
    for r, m in zip(rows, METHODS, strict=True):
        r.insert(3, f"{results[m]['timing']['3.0']['clips_per_s'] / base3:.1f}x")
    headers = [
        "method",
        "3 s clips/s",
        "10 s clips/s",
        f"speed vs {BASELINE} (3 s)",
        "peak MB (Python)",
        "pc precision",
        "pc recall",
        "root accuracy",
        "deterministic",
    ]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{len(clips)} synthetic clips (seed {args.seed}); process peak RSS {rss:.0f} MB")
    summary = {
        "baseline": METHODS[BASELINE].id,
        "clips": len(clips),
        "peak_rss_mb": rss,
        **{f"{m}_clips_per_s_3s": results[m]["timing"]["3.0"]["clips_per_s"] for m in METHODS},
        **{f"{m}_clips_per_s_10s": results[m]["timing"]["10.0"]["clips_per_s"] for m in METHODS},
        **{f"{m}_pc_precision": results[m]["pc_precision"] for m in METHODS},
        **{f"{m}_pc_recall": results[m]["pc_recall"] for m in METHODS},
        **{f"{m}_root_accuracy": results[m]["root_accuracy"] for m in METHODS},
        "all_deterministic": all(r["deterministic"] for r in results.values()),
    }
    atomic_write_json(
        args.json,
        {
            "summary": summary,
            "methods": results,
            "provenance": provenance(command="benchmarks/bench_chords.py", seeds={"synth": args.seed}),
        },
    )
    print(f"wrote {args.json}")
    return 0 if summary["all_deterministic"] else 1


if __name__ == "__main__":
    sys.exit(main())
