"""Checkpoints: atomic save, and `load_model(path) -> (model, config, meta)` from the file alone.

A checkpoint is a `torch.save`d dict:
    format: "s2w-checkpoint", version: 1,
    kind: "cnn" | "baseline" | "scene2wav",       # which network (s2w_models.nets.build_model)
    config: Config.to_dict(),                     # rebuilds the network
    model: state_dict (weight norm NOT folded),
    meta: {stage, epoch, step, val_loss, best_val_loss, provenance, ...},
    train_state: optional (optimizer states, RNG states, loop position) for `--resume`.
Only plain containers/tensors are stored, so it loads with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from s2w_eval.errors import DataError
from s2w_eval.results import atomic_write_bytes

from .config import Config

FORMAT = "s2w-checkpoint"
VERSION = 1
KINDS = ("cnn", "baseline", "scene2wav")


def model_kind(model: torch.nn.Module) -> str:
    from .nets import ConvSeq2Seq, Scene2Wav, VisualCNN

    if isinstance(model, Scene2Wav):
        return "scene2wav"
    if isinstance(model, ConvSeq2Seq):
        return "baseline"
    if isinstance(model, VisualCNN):
        return "cnn"
    raise TypeError(f"not an s2w model: {type(model).__name__}")


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    config: Config,
    meta: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
    kind: str | None = None,
) -> Path:
    """Write atomically (temp file + rename): a crash mid-save leaves the previous checkpoint intact."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind or model_kind(model),
        "config": config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    if train_state is not None:
        payload["train_state"] = train_state
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path, fix="train one with `s2w-models train`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a data error
        raise DataError(f"unreadable checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError("not an s2w checkpoint", path, fix="pass a .pt file written by `s2w-models train`")
    if payload.get("version", 0) > VERSION:
        raise DataError(
            f"checkpoint version {payload['version']} is newer than this s2w ({VERSION})",
            path,
            fix="upgrade s2w",
        )
    if payload.get("kind") not in KINDS:
        raise DataError(f"unknown model kind {payload.get('kind')!r}", path)
    from s2w_eval.errors import UsageError

    try:
        Config.from_dict(payload.get("config") or {}).validate()
    except (UsageError, TypeError) as exc:
        text = exc.message if isinstance(exc, UsageError) else str(exc)
        raise DataError(
            f"the checkpoint's config is not one this s2w can rebuild: {text}",
            path,
            fix="retrain it with this s2w version, or use the s2w version named in its meta.provenance",
        ) from None
    return payload


def load_model(path: str | Path, device: str | torch.device = "cpu", eval_mode: bool = True):
    """Rebuild the network a checkpoint holds: returns (model, config, meta). `meta['kind']` names the model."""
    from .nets import build_model

    payload = read_checkpoint(path)
    config = Config.from_dict(payload["config"])
    model = build_model(payload["kind"], config)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise DataError(f"checkpoint weights do not fit its config: {exc}", path) from None
    model.to(device)
    if eval_mode:
        model.eval()
    meta = dict(payload.get("meta", {}))
    meta["kind"] = payload["kind"]
    meta["path"] = str(path)
    return model, config, meta
