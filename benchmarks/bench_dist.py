"""Benchmark of `s2w-eval dist` (issue: distribution distances): embedding speed per embedding (clips per
second on 3 s clips) and the distance computation (KAD, FAD, FAD-inf, with and without the bootstrap) for 20
and 1,000 clips per condition.

The standard embeddings (vggish, panns-cnn14) are timed on randomly initialised networks of the published size
(speed does not depend on the weights' values; s2w never downloads weights). The transformers backends are
timed only with --weights-dir holding their model folders.

    python benchmarks/bench_dist.py [--quick] [--json PATH] [--embeddings cdpam,dpam,vggish,panns-cnn14]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from s2w_eval.features import standard_embeddings as S  # noqa: E402
from s2w_eval.features.embeddings import build_embedding  # noqa: E402
from s2w_eval.metrics import dist as D  # noqa: E402
from s2w_eval.results import atomic_write_json, provenance  # noqa: E402
from tests.chords_synth import make_clip  # noqa: E402


def _embedding(name: str, tmp: Path):
    import torch

    if name == "vggish":
        p = tmp / "vggish.pth"
        torch.save(S.vggish_network().state_dict(), p)
        return build_embedding(name, p)
    if name == "panns-cnn14":
        p = tmp / "cnn14.pth"
        torch.save({"model": S.cnn14_network().state_dict()}, p)
        return build_embedding(name, p)
    return build_embedding(name)


def time_embeddings(names, n_clips, seed):
    from s2w_eval.io.audio import resample

    rng = np.random.default_rng(seed)
    clips = [make_clip("mixed", 3.0, 22050, rng) for _ in range(n_clips)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            emb = _embedding(name, Path(tmp))
            xs = [resample(c.audio, 22050, emb.sample_rate) for c in clips]
            emb.embed(xs[0][: emb.sample_rate])  # warm-up
            t0 = time.perf_counter()
            dims = [emb.embed(x).size for x in xs][0]
            dt = time.perf_counter() - t0
            rows[name] = {"clips": n_clips, "seconds": dt, "clips_per_s": n_clips / dt, "dims": dims}
            emb.close()
    return rows


def time_distances(sizes, dims, resamples, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for n in sizes:
        ref = rng.standard_normal((n, dims))
        test = rng.standard_normal((n, dims)) + 0.1
        for metric in ("kad", "fad", "fad-inf"):
            for b in (0, resamples):
                if metric == "fad-inf" and b:
                    continue
                t0 = time.perf_counter()
                D.distance(metric, ref, test, paired=True, n_resamples=b, seed=seed)
                out[f"{metric}/n={n}/bootstrap={b}"] = {
                    "metric": metric,
                    "n": n,
                    "dims": dims,
                    "bootstrap": b,
                    "seconds": time.perf_counter() - t0,
                }
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer clips and resamples (under 2 minutes)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "dist.json")
    ap.add_argument("--embeddings", default="dpam,vggish,panns-cnn14,cdpam")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    names = [n for n in args.embeddings.split(",") if n]
    emb = time_embeddings(names, 2 if args.quick else 8, args.seed)
    dist = time_distances((20, 1000), 1024, 20 if args.quick else 1000, args.seed)
    print(
        tabulate(
            [[k, v["dims"], f"{v['clips_per_s']:.2f}"] for k, v in emb.items()],
            headers=["embedding", "dims", "3 s clips/s"],
            tablefmt="github",
        )
    )
    print()
    print(
        tabulate(
            [[v["metric"], v["n"], v["dims"], v["bootstrap"], f"{v['seconds']:.3f}"] for v in dist.values()],
            headers=["distance", "clips per set", "dims", "bootstrap resamples", "seconds"],
            tablefmt="github",
        )
    )
    summary = {
        **{f"{k}_clips_per_s": v["clips_per_s"] for k, v in emb.items()},
        **{f"{k}_s": v["seconds"] for k, v in dist.items()},
    }
    atomic_write_json(
        args.json,
        {
            "summary": summary,
            "embeddings": emb,
            "distances": dist,
            "provenance": provenance(command="benchmarks/bench_dist.py", seeds={"data": args.seed}),
        },
    )
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
