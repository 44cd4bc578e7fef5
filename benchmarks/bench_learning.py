"""Benchmark: do the `small` models learn on the synthetic set? (the recipe protocols/synthetic-small.yaml)

synthesize -> prepare (3 s splices, 16 kHz) -> train cnn, encoder, scene2wav with the `small` preset -> on the
held-out movie's test clips:
- `cnn_accuracy`: the CNN's per-frame accuracy (and `cnn_clip_accuracy`, the majority vote per clip);
- `scene2wav_agreement`: share of generated test clips (the protocol's duration, from each clip's video alone,
  checkpoint -> fast sampler) whose chord label through the Emotional Circle of Fifths (s2w_eval's default
  detector, the paper's set rule) is the clip's intended emotion; `agreement_p`: one-sided exact binomial
  p-value against 50 %;
- `control_agreement`: the same for clips generated from ANOTHER test clip's scene (a seeded derangement),
  scored against the original clip's emotion: what the audio context alone gives;
- `nll_gap_bits`: `s2w-models diagnose` on the test split (NLL with a shuffled minus the true condition).
Goals (issue: learning): cnn_accuracy >= 0.9, agreement_p < 0.05 and agreement > control, all in <= 15 min on 2
CPU cores. Not a timed test; `--quick` (< 2 min of training, fewer clips) shows the pipeline, not the goals.

    python benchmarks/bench_learning.py [--quick] [--json PATH] [--work DIR] [--temperature T]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PROTOCOL = REPO / "protocols" / "synthetic-small.yaml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1.5 min of movie, a few epochs (< 2 min training)")
    ap.add_argument(
        "--json", type=Path, default=None, help="default benchmarks/results/learning[-quick].json"
    )
    ap.add_argument(
        "--work", type=Path, default=None, help="work folder (default benchmarks/results/learning/)"
    )
    ap.add_argument("--minutes", type=float, default=None, help="minutes of synthetic movie (default 12)")
    ap.add_argument("--temperature", type=float, default=0.5, help="sampling temperature of Scene2Wav")
    ap.add_argument("--clips", type=int, default=0, help="test clips generated (0 = all)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra config override")
    args = ap.parse_args()

    import torch
    from scipy.stats import binomtest
    from tabulate import tabulate

    from s2w_eval.features.detect import detect
    from s2w_eval.metrics.circle import emotion_label, label
    from s2w_eval.protocols import load_protocol
    from s2w_eval.results import atomic_write_json, provenance
    from s2w_models.checkpoint import load_model
    from s2w_models.data.dataset import SpliceDataset
    from s2w_models.data.prepare import prepare
    from s2w_models.data.synth import synthesize
    from s2w_models.diagnose import derangement, diagnose
    from s2w_models.generate import make_generator, select_samples
    from s2w_models.train import train_stage

    proto = load_protocol(PROTOCOL)
    if args.json is None:
        args.json = (
            REPO / "benchmarks" / "results" / ("learning-quick.json" if args.quick else "learning.json")
        )
    work = args.work or REPO / "benchmarks" / "results" / ("learning-quick" if args.quick else "learning")
    minutes = args.minutes or (1.5 if args.quick else 12.0)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    synthesize(work / "synth", minutes=minutes, seed=proto.seed("synth"), movies=3, progress=False)
    res = prepare(
        work / "synth",
        work / "data",
        seconds=3,
        sample_rate=proto.sample_rate,
        progress=False,
        log=lambda m: None,
    )
    counts = {
        s: {e: sum(r["split"] == s and r["emotion"] == e for r in res.rows) for e in ("positive", "negative")}
        for s in ("train", "val", "test")
    }
    timings["data"] = time.perf_counter() - t0

    over = [f"train.seed={proto.seed('train')}", *args.overrides]
    if args.quick:
        over += ["train.cnn.epochs=4", "train.encoder.epochs=2", "train.scene2wav.epochs=2"]
    t0 = time.perf_counter()
    summary = train_stage(
        "all", work / "data", work / "train", preset="small", overrides=over, resume=True, progress=False
    )
    timings["train"] = time.perf_counter() - t0
    for stage, s in summary.items():
        timings[f"train {stage}"] = s["seconds"]

    # the CNN on the test split
    test = SpliceDataset(work / "data", "test")
    cnn, _, _ = load_model(work / "train" / "cnn" / "best.pt")
    frame_ok, clip_ok = 0, 0
    with torch.no_grad():
        for i in range(len(test)):
            it = test[i]
            pred = cnn(it["frames"])[0].argmax(-1)
            frame_ok += int((pred == int(it["emotion"])).sum())
            clip_ok += int((pred.float().mean() >= 0.5) == bool(int(it["emotion"])))
    n_frames = sum(test[i]["frames"].shape[0] for i in range(len(test)))
    cnn_acc, cnn_clip_acc = frame_ok / n_frames, clip_ok / len(test)

    # Scene2Wav: generated test clips, true and shuffled scenes
    t0 = time.perf_counter()
    idx = select_samples(test.samples["emotion"].tolist(), args.clips or None, proto.seed("selection"))
    emotions = [str(test.samples["emotion"].iloc[i]) for i in idx]
    frames = torch.stack([test[i]["frames"] for i in idx])
    model, _, meta = load_model(work / "train" / "scene2wav" / "best.pt")
    gen = make_generator(model, meta["kind"])
    n = proto.samples_per_clip
    seeds = list(range(len(idx)))
    waves = gen(frames, n, seeds, temperature=args.temperature)
    perm = derangement(len(idx), proto.seed("generation"))
    control = gen(frames[perm], n, seeds, temperature=args.temperature)
    timings["generate"] = time.perf_counter() - t0

    def agreement(ws):
        labels = [label(detect(np.asarray(w, dtype=np.float64), proto.sample_rate).pitch_classes) for w in ws]
        hits = [lab == emotion_label(e) for lab, e in zip(labels, emotions, strict=True)]
        return int(sum(hits)), labels

    t0 = time.perf_counter()
    k, labels = agreement(waves)
    kc, control_labels = agreement(control)
    timings["chords"] = time.perf_counter() - t0
    p = float(binomtest(k, len(idx), 0.5, alternative="greater").pvalue)
    t0 = time.perf_counter()
    diag = diagnose(
        work / "train" / "scene2wav" / "best.pt", work / "data", split="test", clips=16, seconds=1.0
    )
    timings["diagnose"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    out = {
        "quick": args.quick,
        "minutes": minutes,
        "split_counts": counts,
        "cnn_accuracy": cnn_acc,
        "cnn_clip_accuracy": cnn_clip_acc,
        "clips": len(idx),
        "temperature": args.temperature,
        "scene2wav_agreement": k / len(idx),
        "agreement_p": p,
        "control_agreement": kc / len(idx),
        "labels": {"+": labels.count("+"), "-": labels.count("-"), "0": labels.count("0")},
        "control_labels": {
            "+": control_labels.count("+"),
            "-": control_labels.count("-"),
            "0": control_labels.count("0"),
        },
        "nll_true_bits": diag["nll_true_bits"],
        "nll_gap_bits": diag["nll_gap_bits"],
        "kl_opposite_nats": diag["kl_opposite_nats"],
        "best_val_loss": {s: v["best_val_loss"] for s, v in summary.items()},
        "seconds": {k2: round(v, 1) for k2, v in timings.items()},
        "goals": {
            "cnn_accuracy >= 0.9": cnn_acc >= 0.9,
            "agreement_p < 0.05": p < 0.05,
            "agreement > control": k > kc,
            "training <= 15 min": timings["train"] <= 900,
        },
        "torch_threads": torch.get_num_threads(),
        "provenance": provenance(command="benchmarks/bench_learning.py", protocol=proto.provenance()),
    }
    rows = [
        ["CNN test accuracy (per frame / per clip)", f"{cnn_acc:.3f} / {cnn_clip_acc:.3f}", ">= 0.9"],
        [
            f"Scene2Wav chord agreement ({len(idx)} clips, T={args.temperature:g})",
            f"{k / len(idx):.3f}",
            "> 0.5, p < 0.05",
        ],
        ["one-sided binomial p", f"{p:.3g}", "< 0.05"],
        ["shuffled-condition control agreement", f"{kc / len(idx):.3f}", "< agreement"],
        ["NLL gap, shuffled - true (bits/sample)", f"{diag['nll_gap_bits']:.4f}", "> 0.01"],
        ["training seconds (all stages)", f"{timings['train']:.0f}", "<= 900"],
    ]
    print(tabulate(rows, headers=["measure", "value", "goal"], tablefmt="github"))
    print(json.dumps(out["seconds"]))
    atomic_write_json(args.json, out)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
