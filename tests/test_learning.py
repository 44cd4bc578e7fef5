"""The learning test: each model overfits two scenes of opposite emotion whose audio are different sustained
chords, then generates from each scene's video alone (checkpoint -> generator) and must play that scene's chord.

Scene A (positive: warm, bright, saturated frames) sounds G major {G, B, D}; scene B (negative: cool, dark,
desaturated) sounds C# minor {C#, E, G#}: disjoint pitch-class sets, '+' and '-' on the Emotional Circle of
Fifths. Both clips start at the same silence prefix, so only the scene (the condition) can tell the model which
chord to play. The chords are read back with s2w_eval's default detector and circle, as a report would.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2w_eval.features.detect import detect
from s2w_eval.metrics.circle import emotion_label, label
from s2w_models.checkpoint import load_model
from s2w_models.generate import make_generator
from s2w_models.train import train_stage

SR = 8000
SECONDS = 0.5
CHORDS = {"positive": (62, 67, 71), "negative": (61, 64, 68)}  # G major (2nd inv.), C# minor: MIDI numbers
PCS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def chord_audio(midis, n: int, sr: int) -> torch.Tensor:
    """A sustained chord: each note with 4 harmonics (amplitude 1/k^1.5), peak 0.8."""
    t = torch.arange(n, dtype=torch.float64) / sr
    a = torch.zeros(n, dtype=torch.float64)
    for j, m in enumerate(midis):
        f = 440.0 * 2 ** ((m - 69) / 12)
        for k in range(1, 5):
            a += torch.sin(2 * math.pi * k * f * t + k + j) / k**1.5
    return (0.8 * a / a.abs().max()).float()


class TwoScenes(torch.utils.data.Dataset):
    """Two splices in SpliceDataset's item format: frames carry the emotion, audio the matching chord."""

    def __init__(self, frames: int = 4, size: int = 100, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        n = int(SR * SECONDS)
        self.items = []
        for i, emotion in enumerate(("negative", "positive")):
            pos = emotion == "positive"
            fr = torch.rand(frames, 3, size, size, generator=g) * 0.1
            fr[:, 0] += 0.05 if pos else 0.6  # hue: warm vs cool
            fr[:, 1] += 0.7 if pos else 0.2  # saturation
            fr[:, 2] += 0.8 if pos else 0.3  # value
            self.items.append(
                {
                    "frames": fr.clamp(0, 1),
                    "audio": chord_audio(CHORDS[emotion], n, SR),
                    "emotion": torch.tensor(int(pos)),
                    "sample": emotion,
                    "index": i,
                }
            )
        self.meta = {
            "seconds": SECONDS,
            "fps": 10,
            "frames_per_clip": frames,
            "sample_rate": SR,
            "audio_len": n,
            "frame_size": [size, size],
        }

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def pitch_classes(midis) -> set[str]:
    return {PCS[m % 12] for m in midis}


def check_chords(waves, data: TwoScenes, model: str) -> None:
    for wave, item in zip(waves, data.items, strict=True):
        emotion = item["sample"]
        other = "positive" if emotion == "negative" else "negative"
        det = detect(np.asarray(wave, dtype=np.float64), SR)
        found = det.pitch_classes
        own, wrong = pitch_classes(CHORDS[emotion]), pitch_classes(CHORDS[other])
        msg = f"{model}, {emotion} scene: detected {sorted(found)} ({det.reason}); its chord {sorted(own)}"
        assert len(found & own) >= 2, msg
        assert not found & wrong, msg
        assert label(found) == emotion_label(emotion), msg


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """Baseline (= the encoder stage) first, then Scene2Wav on its encoder, as `train all` chains them."""
    out = tmp_path_factory.mktemp("overfit")
    data = TwoScenes()
    common = ["train.seq_len=1024", "train.ckpt_every=1000"]
    kw = dict(preset="small", datasets=(data, data), progress=False)
    enc = [
        # teacher-forced with a step's input dropped 3 times in 10 (see test_baseline_plays_each_scenes_chord)
        "baseline.decoder_input=shifted",
        "baseline.input_dropout=0.3",
        "train.encoder.epochs=600",
        "train.encoder.patience=0",
        "train.encoder.crop_samples=0",
        "train.encoder.batch_size=2",
    ]
    summary = train_stage("encoder", None, out, overrides=common + enc, init="random", **kw)
    s2w = [
        "train.scene2wav.epochs=60",
        "train.scene2wav.patience=0",
        "train.scene2wav.crop_samples=0",
        "train.scene2wav.batch_size=2",
    ]
    summary.update(train_stage("scene2wav", None, out, overrides=common + s2w, **kw))
    return out, data, summary


def _generate(ckpt, data: TwoScenes, **kw) -> np.ndarray:
    model, _, meta = load_model(ckpt)
    gen = make_generator(model, meta["kind"])
    frames = torch.stack([it["frames"] for it in data.items])
    return gen(frames, int(SR * SECONDS), seeds=[1, 2], **kw)


def test_scene2wav_plays_each_scenes_chord(overfit):
    out, data, summary = overfit
    assert summary["scene2wav"]["best_val_loss"] < 0.5  # bits per sample: far below log2(64) = 6
    # temperature 0.5: an overfit model sampled at 1.0 drifts off its training manifold after one unlikely
    # sample and never comes back (noise); the learned distribution itself is what this test checks
    waves = _generate(out / "scene2wav" / "best.pt", data, temperature=0.5)
    check_chords(waves, data, "scene2wav")


def test_scene2wav_condition_is_what_decides(overfit):
    """Swapping the scenes swaps the chords: the audio prefix is the same silence, only v differs."""
    out, data, _ = overfit
    swapped = TwoScenes()
    swapped.items = [dict(a, frames=b["frames"]) for a, b in zip(data.items, data.items[::-1], strict=True)]
    waves = _generate(out / "scene2wav" / "best.pt", swapped, temperature=0.5)
    check_chords(waves[::-1], data, "scene2wav (scenes swapped)")


def test_baseline_plays_each_scenes_chord(overfit):
    """Free-running (baseline.decoder_input=autoregressive, the default) the L1 regressor stays at silence;
    teacher-forced it plays one chord for both scenes (the audio, not the scene, tells it what comes next); with
    baseline.input_dropout it must keep the scene in its state, and decoding from the video alone plays each
    scene's chord (docs/models.md)."""
    out, data, summary = overfit
    assert summary["encoder"]["best_val_loss"] < 0.2  # L1 of free decoding; silence scores ~0.2
    waves = _generate(out / "encoder" / "best.pt", data)
    check_chords(waves, data, "baseline")


def write_prepared(data: TwoScenes, root) -> None:
    """The two scenes as a prepared dataset folder (SpliceDataset's format), in both the train and val split."""
    import pandas as pd

    from s2w_eval.results import atomic_write_json

    (root / "shards").mkdir(parents=True)
    frames = np.stack([np.rint(it["frames"].numpy() * 255).astype(np.uint8) for it in data.items])
    audio = np.stack([np.rint(it["audio"].numpy() * 32767).astype(np.int16) for it in data.items])
    np.save(root / "shards" / "M.frames.npy", np.concatenate([frames, frames]))
    np.save(root / "shards" / "M.audio.npy", np.concatenate([audio, audio]))
    rows = []
    for k, split in enumerate(("train", "val")):
        for i, it in enumerate(data.items):
            pos = it["sample"] == "positive"
            rows.append(
                {
                    "sample": f"{split}_{it['sample']}",
                    "movie": "M",
                    "start_s": float(k * 2 + i),
                    "valence": 0.5 if pos else -0.5,
                    "arousal": 0.0,
                    "emotion": it["sample"],
                    "split": split,
                    "shard": "M",
                    "row": k * 2 + i,
                }
            )
    pd.DataFrame(rows).to_csv(root / "samples.csv", index=False)
    meta = dict(data.meta, color="hsv")
    atomic_write_json(root / "dataset.json", meta)


def test_diagnose_sees_the_condition_used(overfit, tmp_path):
    import json

    from s2w_eval.clikit import run_main
    from s2w_models.cli import cli
    from s2w_models.diagnose import derangement, diagnose

    out, data, _ = overfit
    write_prepared(data, tmp_path / "data")
    d = diagnose(out / "scene2wav" / "best.pt", tmp_path / "data", split="val", clips=2, seconds=SECONDS)
    assert d["clips"] == 2 and d["emotions"] == {"negative": 1, "positive": 1}
    # its own scene: nearly certain; the other scene's: the other chord is expected at the start
    assert d["nll_true_bits"] < 0.5 and d["nll_gap_bits"] > 0.05
    assert d["kl_opposite_nats"] > 0.1 and d["kl_same_nats"] is None  # one clip per emotion
    assert "is used" in d["verdict"]
    base = diagnose(out / "encoder" / "best.pt", tmp_path / "data", split="val", clips=2, seconds=SECONDS)
    assert base["model"] == "baseline" and base["l1_true"] > 0
    # the CLI writes <run>/diagnostics.json
    run = tmp_path / "run"
    code = run_main(
        cli,
        [
            "diagnose",
            str(out / "scene2wav" / "best.pt"),
            "--data",
            str(tmp_path / "data"),
            "--clips",
            "2",
            "--seconds",
            str(SECONDS),
            "--run",
            str(run),
        ],
    )
    assert code == 0
    saved = json.loads((run / "diagnostics.json").read_text())
    assert saved["nll_gap_bits"] == pytest.approx(d["nll_gap_bits"])
    assert (
        run_main(
            cli,
            [
                "diagnose",
                str(out / "scene2wav" / "best.pt"),
                "--data",
                str(tmp_path / "data"),
                "--clips",
                "1",
            ],
        )
        == 2
    )
    for n in (2, 3, 7):
        p = derangement(n, 5)
        assert sorted(p) == list(range(n)) and all(p[i] != i for i in range(n))


def test_input_dropout_needs_a_teacher_forced_decoder():
    from s2w_eval.errors import UsageError
    from s2w_models.config import apply_overrides, preset

    with pytest.raises(UsageError, match="decoder_input=shifted"):
        apply_overrides(preset("small"), ["baseline.input_dropout=0.3"])
    with pytest.raises(UsageError, match="input_dropout"):
        apply_overrides(preset("small"), ["baseline.decoder_input=shifted", "baseline.input_dropout=1.5"])
    cfg = apply_overrides(preset("small"), ["baseline.decoder_input=shifted", "baseline.input_dropout=0.3"])
    assert cfg.baseline.input_dropout == 0.3 and preset("paper").baseline.input_dropout == 0.0
