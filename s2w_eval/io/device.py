"""The one place a device name from the user becomes a `torch.device` (every command that runs a network:
pam's CDPAM and DPAM, s2w_models' train and generate). In io because s2w_models may use io, not features."""

from __future__ import annotations

from ..errors import UsageError

DEVICE_CHOICES = "cpu, cuda, cuda:N or auto"


def resolve_device(device) -> torch.device:  # noqa: F821 (torch is imported lazily)
    """'cpu', 'cuda', 'cuda:N' or 'auto' (None = auto) -> torch.device, checked against this machine.

    Anything else (tpu, mps, a typo) or a CUDA device that is not there is a UsageError naming the choices.
    """
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {str(device)!r}", fix=f"choose {DEVICE_CHOICES}", param="device")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"device {str(device)!r} asked for, but no CUDA GPU is available",
                fix="choose device cpu",
                param="device",
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {str(device)!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) are visible",
                fix=f"choose cuda:0 to cuda:{torch.cuda.device_count() - 1}",
                param="device",
            )
    return dev
