"""After a kill and --resume, training's logs (steps.csv, epochs.csv, TensorBoard) equal an uninterrupted run's."""

from __future__ import annotations

import csv
import shutil

import pytest
import torch

from s2w_models.tbevents import ScalarWriter, read_scalars, truncate_events
from s2w_models.train import train_stage

from .test_train import MemSplices


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tb_points(folder):
    """Every (tag, step, value) of a run's events files, in file order (wall-clock seconds aside)."""
    files = sorted((folder / "tb").glob("events.out.tfevents.*"))
    return [p for f in files for p in read_scalars(f) if p[0] != "epoch/seconds"]


def csv_rows(path, drop=("seconds",)):
    with open(path, encoding="utf-8") as fh:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(fh)]


def test_kill_after_a_checkpoint_then_resume_logs_each_point_once(tmp_path):
    """Killed (as by kill -9) 3 steps after the last checkpoint, mid-epoch: the killed run's log already holds
    those steps; the resumed run must not log them twice, and the epoch mean must cover the whole epoch."""
    over = ["train.cnn.epochs=2", "train.cnn.patience=0", "train.ckpt_every=2", "train.cnn.batch_size=1"]
    tr, va = MemSplices(6, frames=2, size=100, seed=0), MemSplices(2, frames=2, seed=1)
    kw = dict(preset="tiny", overrides=over, datasets=(tr, va), progress=False)
    train_stage("cnn", None, tmp_path / "a", **kw)
    b = tmp_path / "b" / "cnn"
    train_stage("cnn", None, tmp_path / "b", _interrupt_after=2, **kw)  # checkpoint at step 2 (epoch 0)
    shutil.copy(b / "last.pt", tmp_path / "at2.pt")
    train_stage("cnn", None, tmp_path / "b", resume=True, _interrupt_after=5, **kw)  # logs steps 3..5
    shutil.copy(tmp_path / "at2.pt", b / "last.pt")  # the kill: nothing after step 2 was checkpointed
    with open(b / "steps.csv", "a", encoding="utf-8") as fh:
        fh.write("6,0,0.12")  # and a line torn by the kill
    train_stage("cnn", None, tmp_path / "b", resume=True, **kw)
    a = tmp_path / "a" / "cnn"
    assert csv_rows(b / "steps.csv") == csv_rows(a / "steps.csv")
    assert csv_rows(b / "epochs.csv") == csv_rows(a / "epochs.csv")  # train_loss: the whole epoch's mean
    pa, pb = tb_points(tmp_path / "a" / "cnn"), tb_points(tmp_path / "b" / "cnn")
    assert len(pa) > 12 and pb == pa
    assert len({(t, s) for t, s, _ in pb}) == len(pb)  # no duplicated points


def test_events_truncation_drops_later_points_and_a_torn_tail(tmp_path):
    w = ScalarWriter(tmp_path)
    for step in range(1, 6):
        w.add_scalar("train/loss", step / 10, step)
    w.close()
    with open(w.path, "ab") as fh:
        fh.write(b"\x10\x00\x00")  # torn record
    truncate_events(w.path, 3)
    assert [s for _, s, _ in read_scalars(w.path)] == [1, 2, 3]
    w2 = ScalarWriter(tmp_path, resume_step=2)  # appends to the same file
    w2.add_scalar("train/loss", 0.9, 3)
    w2.close()
    assert w2.path == w.path and [(s, round(v, 3)) for _, s, v in read_scalars(w.path)] == [
        (1, 0.1),
        (2, 0.2),
        (3, 0.9),
    ]
    ScalarWriter(tmp_path).close()  # a fresh start replaces the old log
    assert len(list(tmp_path.glob("events.*"))) == 1 and read_scalars(next(tmp_path.glob("events.*"))) == []
