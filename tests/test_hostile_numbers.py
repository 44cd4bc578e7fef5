"""Devices and numbers from the user: usage errors naming the bounds, never a traceback or a silent no-op."""

from __future__ import annotations

import pytest
import torch

from s2w_eval.errors import DataError, UsageError
from s2w_eval.io.device import resolve_device
from s2w_models.checkpoint import load_model, read_checkpoint, save_checkpoint
from s2w_models.config import apply_overrides, tiny

from .test_train import MemSplices

NO_CUDA = not torch.cuda.is_available()


def _models(argv):
    from s2w_eval.clikit import run_main
    from s2w_models.cli import cli

    return run_main(cli, argv)


@pytest.mark.parametrize("name", ["tpu", "mps", "cuda:x", "gpu", ""])
def test_unknown_devices_are_usage_errors(name):
    with pytest.raises(UsageError, match="unknown device") as err:
        resolve_device(name)
    assert "cpu" in err.value.fix


@pytest.mark.skipif(not NO_CUDA, reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_usage_error_everywhere():
    from s2w_eval.features.dpam import DPAMMetric

    with pytest.raises(UsageError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(UsageError, match="no CUDA GPU"):  # was an AssertionError from deep inside torch
        DPAMMetric(device="cuda")


def test_train_device_tpu_is_a_usage_error(tmp_path):
    from s2w_models.train import train_stage

    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        train_stage("cnn", None, tmp_path, datasets=(MemSplices(2), None), device="tpu", progress=False)


def test_cli_device_errors_exit_2(tmp_path):
    code = _models(["train", "cnn", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--device", "tpu"])
    assert code == 2


@pytest.mark.parametrize(
    "setting,fragment",
    [
        ("train.ckpt_every=-1", "[1, "),
        ("train.cnn.lr=nan", "[1e-12, 100]"),
        ("train.scene2wav.epochs=0", "[1, "),
        ("data.image_size=20000", "[8, 1024]"),
        ("samplernn.frame_sizes=0,4", "[1, 4096]"),
        ("cnn.dropout=inf", "[0, 0.99]"),
    ],
)
def test_config_bounds(setting, fragment):
    with pytest.raises(UsageError, match="out of range") as err:
        apply_overrides(tiny(), [setting])
    assert setting.split("=")[0] in err.value.message and fragment in err.value.fix


def test_nan_minutes_and_huge_sizes_are_usage_errors(tmp_path):
    from s2w_models.data.prepare import prepare
    from s2w_models.data.synth import synthesize
    from s2w_models.quickstart import QuickstartConfig, run_quickstart

    with pytest.raises(UsageError, match="minutes=nan is out of range"):
        synthesize(tmp_path / "s", float("nan"), progress=False)
    with pytest.raises(UsageError, match="frame size"):
        synthesize(tmp_path / "s", 1.0, size=(20000, 20000), progress=False)
    with pytest.raises(UsageError, match="frame size"):
        prepare(tmp_path / "src", tmp_path / "d", 3, size=(20000, 20000), progress=False)
    with pytest.raises(UsageError, match="minutes of synthetic movie=nan"):
        run_quickstart(tmp_path / "q", QuickstartConfig(minutes=float("nan")), progress=False)
    assert not (tmp_path / "s").exists() and not (tmp_path / "d").exists()


def test_cli_numbers_exit_2(tmp_path):
    assert _models(["data", "synth", "--out", str(tmp_path / "s"), "--minutes", "nan"]) == 2
    assert _models(["data", "synth", "--out", str(tmp_path / "s"), "--size", "20000x20000"]) == 2


def _cnn_checkpoint(tmp_path, seed=3):
    from s2w_models.nets import VisualCNN

    cfg = tiny()
    torch.manual_seed(seed)
    model = VisualCNN(cfg.cnn, image_size=cfg.data.image_size)
    return save_checkpoint(tmp_path / "cnn.pt", model, cfg, {"stage": "cnn"}), model


def test_checkpoint_with_unknown_config_keys_is_refused(tmp_path):
    path, model = _cnn_checkpoint(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["samplernn"]["warp_drive"] = 9
    payload["config"]["extra_section"] = {}
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(DataError, match="unknown setting") as err:
        read_checkpoint(tmp_path / "edited.pt")
    assert "samplernn.warp_drive" in err.value.message or "extra_section" in err.value.message
    assert err.value.path == str(tmp_path / "edited.pt") and "retrain" in err.value.fix
    with pytest.raises(DataError, match="unknown setting"):
        load_model(tmp_path / "edited.pt")
    load_model(path)  # the untouched file still loads


def test_train_cnn_init_starts_from_the_checkpoint(tmp_path):
    from s2w_models.train import build_stage_model

    path, ref = _cnn_checkpoint(tmp_path, seed=11)
    model, _ = build_stage_model("cnn", tiny(), tmp_path, init=path)
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    torch.manual_seed(0)
    fresh, _ = build_stage_model("cnn", tiny(), tmp_path, init="random")
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), ref.state_dict().values()))
    with pytest.raises(DataError, match="checkpoint not found"):
        build_stage_model("cnn", tiny(), tmp_path, init=tmp_path / "nope.pt")


def test_init_with_all_stages_is_refused(tmp_path):
    from s2w_models.train import train_stage

    path, _ = _cnn_checkpoint(tmp_path)
    with pytest.raises(UsageError, match="one stage"):
        train_stage("all", None, tmp_path / "o", datasets=(MemSplices(2), None), init=path, progress=False)
