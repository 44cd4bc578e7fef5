"""Training: learning on synthetic splices, resume equality, NaN guard, CLI."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner

from s2w_models.checkpoint import load_model, read_checkpoint
from s2w_models.tbevents import read_scalars
from s2w_models.train import TrainingDiverged, epoch_batches, train_stage


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small models run faster on one thread; the setting is restored for the other test modules."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class MemSplices(torch.utils.data.Dataset):
    """In-memory splices in SpliceDataset's item format. Colour carries the emotion (warm/bright = positive),
    and the audio is a noisy sine whose pitch carries it too."""

    def __init__(self, n=8, frames=4, size=100, audio_len=2048, seed=0, sr=16000):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        self.poison = False
        for i in range(n):
            pos = i % 2
            fr = torch.rand(frames, 3, size, size, generator=g) * 0.2
            fr[:, 0] += 0.08 if pos else 0.6
            fr[:, 1] += 0.5 if pos else 0.2
            fr[:, 2] += 0.7 if pos else 0.3
            f0 = (440.0 if pos else 220.0) * (1 + 0.05 * float(torch.rand(1, generator=g)))
            t = torch.arange(audio_len) / sr
            a = 0.5 * torch.sin(2 * math.pi * f0 * t) + 0.02 * torch.randn(audio_len, generator=g)
            self.items.append(
                {
                    "frames": fr.clamp(0, 1),
                    "audio": a.clamp(-1, 1).float(),
                    "emotion": torch.tensor(pos, dtype=torch.int64),
                    "sample": f"s{seed}_{i}",
                    "index": i,
                }
            )
        self.meta = {
            "seconds": audio_len / sr,
            "fps": 10,
            "frames_per_clip": frames,
            "sample_rate": sr,
            "audio_len": audio_len,
            "frame_size": [size, size],
        }

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        item = self.items[i]
        if self.poison:
            item = dict(item, frames=torch.full_like(item["frames"], float("nan")))
        return item


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train_all")
    tr, va = MemSplices(8, seed=0), MemSplices(4, seed=1)
    summary = train_stage(
        "all",
        None,
        out,
        preset="tiny",
        datasets=(tr, va),
        progress=False,
        overrides=["train.scene2wav.epochs=3"],
    )
    return out, summary


def test_all_stages_learn(trained):
    out, summary = trained
    assert [s["status"] for s in summary.values()] == ["completed"] * 3
    cnn = summary["cnn"]["history"]
    assert cnn[-1]["val_acc"] >= 0.9  # colour carries the emotion
    s2w = summary["scene2wav"]["history"]
    steps = (out / "scene2wav" / "steps.csv").read_text().splitlines()
    first = float(steps[1].split(",")[3])
    assert first > 5.0  # ~log2(64) = 6 bits at the start
    assert s2w[-1]["val_loss"] < 0.75 * first  # well below its start
    assert s2w[-1]["train_loss"] < 0.75 * first
    for stage, kind in (("cnn", "cnn"), ("encoder", "baseline"), ("scene2wav", "scene2wav")):
        model, cfg, meta = load_model(out / stage / "best.pt")
        assert meta["kind"] == kind and cfg.preset == "tiny" and cfg.data.frames_per_clip == 4
        assert (out / stage / "epochs.csv").exists() and (out / stage / "summary.json").exists()
        # the same scalars as TensorBoard events (train/loss per step, epoch/* per epoch)
        events = sorted((out / stage / "tb").glob("events.out.tfevents.*"))
        assert events
        scalars = read_scalars(events[-1])
        n_steps = len((out / stage / "steps.csv").read_text().splitlines()) - 1
        assert sum(tag == "train/loss" for tag, _, _ in scalars) == n_steps
        assert any(tag.startswith("epoch/") for tag, _, _ in scalars)
    # the scene2wav stage started from the trained encoder, which it kept frozen
    base, _, _ = load_model(out / "encoder" / "best.pt")
    s2w_model, _, _ = load_model(out / "scene2wav" / "best.pt")
    for a, b in zip(base.encoder.state_dict().values(), s2w_model.encoder.state_dict().values()):
        assert torch.equal(a, b)


def test_data_order_is_seeded_and_covers_the_epoch():
    a = epoch_batches(10, 3, 7, 0)
    assert a == epoch_batches(10, 3, 7, 0) and a != epoch_batches(10, 3, 7, 1)
    assert len(a) == 3 and len({i for b in a for i in b}) == 9


def test_resume_is_bit_for_bit(tmp_path):
    """Interrupted (as by Ctrl-C) after 3 steps and resumed == uninterrupted, with dropout in a fine-tuned encoder,
    gates + h0 conditioning and periodic checkpoints in between."""
    over = [
        "samplernn.conditioning=both",
        "samplernn.freeze_encoder=false",
        "samplernn.encoder_mode=train",
        "train.scene2wav.epochs=2",
        "train.scene2wav.crop_samples=512",
        "train.ckpt_every=3",
        "train.scene2wav.patience=0",
        "train.scene2wav.batch_size=2",
    ]
    tr, va = MemSplices(6, seed=0), MemSplices(2, seed=1)
    kw = dict(preset="tiny", overrides=over, datasets=(tr, va), progress=False, init="random")
    full = train_stage("scene2wav", None, tmp_path / "a", **kw)["scene2wav"]
    part = train_stage("scene2wav", None, tmp_path / "b", _interrupt_after=3, **kw)["scene2wav"]
    assert part["status"] == "interrupted" and part["steps"] == 4  # stops at the batch boundary (2 chunks)
    res = train_stage("scene2wav", None, tmp_path / "b", resume=True, **kw)["scene2wav"]
    assert res["status"] == full["status"] == "completed" and res["steps"] == full["steps"] == 12
    a = read_checkpoint(tmp_path / "a" / "scene2wav" / "last.pt")
    b = read_checkpoint(tmp_path / "b" / "scene2wav" / "last.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert (
        a["train_state"]["loop"]["history"][-1]["val_loss"]
        == b["train_state"]["loop"]["history"][-1]["val_loss"]
    )
    # the step log was truncated to the checkpoint and continued: same rows as the uninterrupted run
    ra = (tmp_path / "a" / "scene2wav" / "steps.csv").read_text().splitlines()
    rb = (tmp_path / "b" / "scene2wav" / "steps.csv").read_text().splitlines()
    assert [r.split(",")[:4] for r in ra] == [r.split(",")[:4] for r in rb]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    tr, va = MemSplices(4, seed=0), MemSplices(2, seed=1)
    kw = dict(preset="tiny", datasets=(tr, va), progress=False, init="random")
    train_stage("scene2wav", None, tmp_path, overrides=["train.scene2wav.epochs=1"], **kw)
    last = tmp_path / "scene2wav" / "last.pt"
    before = last.read_bytes()
    tr.poison = True  # NaN frames -> NaN embedding -> NaN loss
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        train_stage("scene2wav", None, tmp_path, overrides=["train.scene2wav.epochs=2"], resume=True, **kw)
    # resume keeps the stored config (epochs=1): rerun with a fresh folder holding that checkpoint and epochs=2
    assert last.read_bytes() == before
    model, _, _ = load_model(last)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_guard_mid_run(tmp_path):
    tr, va = MemSplices(4, seed=0), MemSplices(2, seed=1)
    tr.poison = True
    with pytest.raises(TrainingDiverged) as err:
        train_stage(
            "scene2wav", None, tmp_path, preset="tiny", datasets=(tr, va), progress=False, init="random"
        )
    assert "lower the learning rate" in str(err.value)
    assert not (tmp_path / "scene2wav" / "last.pt").exists()


def test_cli_describe_and_errors(tmp_path):
    from s2w_eval.clikit import run_main
    from s2w_models.cli import cli

    res = CliRunner().invoke(cli, ["describe", "--preset", "tiny", "--set", "samplernn.conditioning=gates"])
    assert res.exit_code == 0, res.output
    assert "SampleRNN total" in res.output and "W_v v in gates" in res.output
    assert run_main(cli, ["describe", "--set", "samplernn.dimm=3"]) == 2
    assert (
        run_main(cli, ["train", "all", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 1
    )
    assert run_main(cli, ["train", "scene2wav", "--data", str(tmp_path), "--out", str(tmp_path)]) == 1


def test_max_steps_then_resume_with_raised_limit(tmp_path):
    tr, va = MemSplices(4, seed=0), MemSplices(2, seed=1)
    base = ["train.scene2wav.crop_samples=512", "train.scene2wav.batch_size=2", "train.scene2wav.patience=0"]
    kw = dict(preset="tiny", datasets=(tr, va), progress=False, init="random")
    first = train_stage("scene2wav", None, tmp_path, overrides=[*base, "train.scene2wav.max_steps=2"], **kw)
    assert first["scene2wav"]["status"] == "max_steps" and first["scene2wav"]["steps"] == 2
    again = train_stage(
        "scene2wav", None, tmp_path, overrides=["train.scene2wav.max_steps=2"], resume=True, **kw
    )
    assert again["scene2wav"]["steps"] == 2  # limit unchanged: nothing more
    more = train_stage(
        "scene2wav", None, tmp_path, overrides=["train.scene2wav.max_steps=0"], resume=True, **kw
    )
    assert more["scene2wav"]["status"] == "completed" and more["scene2wav"]["steps"] == 8  # 2 epochs x 2 x 2


def test_paper_optimisers_and_plateau_resume(tmp_path):
    """The paper preset's optimisers; ASGD + the plateau scheduler train, log lr, and resume from a checkpoint."""
    from s2w_models.config import paper

    p = paper().train
    assert (p.encoder.optimizer, p.encoder.scheduler, p.encoder.plateau_factor) == ("asgd", "plateau", 0.8)
    assert (p.cnn.optimizer, p.cnn.momentum, p.cnn.scheduler) == ("adam", 0.98, "plateau")
    assert p.scene2wav.optimizer == "adam" and p.scene2wav.scheduler == "none"
    tr, va = MemSplices(4, seed=0), MemSplices(2, seed=1)
    over = [
        "train.cnn.optimizer=asgd",
        "train.cnn.scheduler=plateau",
        "train.cnn.plateau_patience=0",
        "train.cnn.plateau_factor=0.5",
        "train.cnn.patience=0",
        "train.cnn.epochs=2",
    ]
    kw = dict(preset="tiny", datasets=(tr, va), progress=False)
    first = train_stage("cnn", None, tmp_path, overrides=over, **kw)["cnn"]
    assert [r["lr"] <= 1e-2 for r in first["history"]] == [True, True]
    ck = read_checkpoint(tmp_path / "cnn" / "last.pt")
    assert "main" in ck["train_state"]["schedulers"]
    more = train_stage("cnn", None, tmp_path, overrides=["train.cnn.epochs=3"], resume=True, **kw)["cnn"]
    assert more["epochs"] == 3 and len(more["history"]) == 3
    with pytest.raises(Exception, match="optimizer"):
        train_stage("cnn", None, tmp_path / "x", overrides=["train.cnn.optimizer=adamw"], **kw)
