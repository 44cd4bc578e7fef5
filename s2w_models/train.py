"""Training stages: `cnn`, `encoder` (encoder + ConvSeq2Seq baseline decoder), `scene2wav` (conditional SampleRNN
on the trained encoder), and `all` in that order.

`train_stage(stage, data_dir, out_dir, preset="tiny", overrides=None, resume=False, ...)` is the Python entry
point (the CLI and the quickstart call it). Each stage writes `<out>/<stage>/`:
- `last.pt`   the latest checkpoint with the full training state (`--resume` continues from it bit-for-bit);
- `best.pt`   the checkpoint with the lowest validation loss (the next stage starts from it);
- `steps.csv` one row per optimizer step; `epochs.csv` one row per epoch (train and validation loss);
- `summary.json` provenance, config, best validation loss, steps, time;
- `tb/`       TensorBoard scalars (events files written by s2w_models.tbevents; no tensorboard package needed).

Determinism: the data order of epoch e is a permutation drawn from a generator seeded with (seed, e); the torch
RNG state (dropout) and the optimizer state are saved in every checkpoint; checkpoints are taken at batch
boundaries, every `train.ckpt_every` steps, at each epoch end and when SIGINT/SIGTERM arrives (the batch in flight
is finished first; a second signal aborts without saving). Resuming restores all of it, so an interrupted and
resumed run ends with the same weights as an uninterrupted one (on CPU).

Distributed: under `torchrun` (env RANK/WORLD_SIZE) each process takes `rank::world` of every global batch,
gradients are averaged across processes with an all-reduce after each backward (gloo on CPU, nccl on GPU), the
logged losses are averaged, and only rank 0 writes files.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from s2w_eval.errors import DataError, UsageError
from s2w_eval.io.device import resolve_device
from s2w_eval.results import atomic_write_json, provenance, rows_to_csv

from .checkpoint import load_model, read_checkpoint, save_checkpoint
from .config import STAGES, Config, apply_overrides
from .config import preset as get_preset
from .nets import ConvSeq2Seq, Scene2Wav, VisualCNN
from .nets.quantize import q_zero
from .nets.samplernn import ConditionalSampleRNN

STAGE_MODEL = {"cnn": "cnn", "encoder": "baseline", "scene2wav": "scene2wav"}


class TrainingDiverged(DataError):
    """The loss became NaN/inf: training stopped, the last good checkpoint is kept."""


# ---------------------------------------------------------------------------------------------- distributed
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def allreduce_mean_(self, tensors: Sequence[torch.Tensor]) -> None:
        if self.world == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        off = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[off : off + n].view_as(t))
            off += n

    def mean(self, value: float) -> float:
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.world

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()


def init_distributed(device: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    here = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        here = True
    return Dist(dist.get_rank(), dist.get_world_size(), here)


# ---------------------------------------------------------------------------------------------- data
def _meta_to_config(cfg: Config, meta: dict[str, Any]) -> None:
    d = cfg.data
    d.seconds = float(meta.get("seconds", d.seconds))
    d.fps = int(meta.get("fps", d.fps))
    d.frames_per_clip = int(meta.get("frames_per_clip", d.frames_per_clip))
    d.sample_rate = int(meta.get("sample_rate", d.sample_rate))
    d.audio_len = int(meta.get("audio_len", d.audio_len))
    size = meta.get("frame_size") or meta.get("image_size")
    if size is not None:
        d.image_size = int(size[0] if isinstance(size, list | tuple) else size)
    from .data.labels import dataset_scheme

    d.labels, d.classes = dataset_scheme(meta)
    cfg.cnn.n_classes = len(d.classes)  # the CNN's head follows the dataset's label scheme


def open_datasets(data_dir: str | Path) -> tuple[Any, Any]:
    from .data.dataset import SpliceDataset

    return SpliceDataset(data_dir, "train"), SpliceDataset(data_dir, "val")


def _batch(ds, idx: Sequence[int], device: torch.device) -> dict[str, torch.Tensor]:
    items = [ds[int(i)] for i in idx]
    return {
        "frames": torch.stack([it["frames"] for it in items]).to(device),
        "audio": torch.stack([it["audio"] for it in items]).to(device),
        "emotion": torch.stack([torch.as_tensor(it["emotion"]) for it in items]).long().to(device),
    }


def epoch_batches(n: int, batch: int, seed: int, epoch: int) -> list[list[int]]:
    """Global batches of epoch `epoch`: a seeded permutation cut into full batches (drop_last)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    return [perm[i : i + batch] for i in range(0, n - batch + 1, batch)]


# ---------------------------------------------------------------------------------------------- logging
class Logger:
    def __init__(self, folder: Path, enabled: bool, resume_step: int | None):
        self.folder = folder
        self.enabled = enabled
        self.tb = None
        self.tb_note = ""
        if not enabled:
            return
        folder.mkdir(parents=True, exist_ok=True)
        self.steps_path = folder / "steps.csv"
        self.epochs_path = folder / "epochs.csv"
        for path, key in ((self.steps_path, "step"), (self.epochs_path, "step")):
            if resume_step is None or not path.exists():
                path.unlink(missing_ok=True)
            else:  # drop rows written after the checkpoint we resume from
                import csv

                text = path.read_text(encoding="utf-8")
                if not text.endswith("\n"):  # a kill mid-append leaves a torn last line
                    text = text[: text.rfind("\n") + 1]
                rows = [r for r in csv.DictReader(text.splitlines()) if int(float(r[key])) <= resume_step]
                from s2w_eval.results import atomic_write_text

                atomic_write_text(path, rows_to_csv(rows) if rows else "")
        from .tbevents import ScalarWriter

        self.tb = ScalarWriter(folder / "tb", resume_step)
        self.tb_note = f"TensorBoard scalars in {folder / 'tb'} (tensorboard --logdir {folder / 'tb'})"

    def _append(self, path: Path, row: dict[str, Any]) -> None:
        text = rows_to_csv([row])
        new = not path.exists() or path.stat().st_size == 0
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text if new else text.split("\n", 1)[1])

    def step(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._append(self.steps_path, row)
        if self.tb is not None:
            self.tb.add_scalar("train/loss", row["loss"], row["step"])

    def epoch(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._append(self.epochs_path, row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and isinstance(v, float) and math.isfinite(v):
                    self.tb.add_scalar(f"epoch/{k}", v, row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# ---------------------------------------------------------------------------------------------- signals
class StopFlag:
    """First SIGINT/SIGTERM: finish the batch in flight, checkpoint, stop. Second: abort at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):  # noqa: ARG002
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopFlag:
        import threading

        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


# ---------------------------------------------------------------------------------------------- stage state
@dataclass
class LoopState:
    epoch: int = 0
    batch: int = 0  # next batch index within the epoch
    step: int = 0  # optimizer steps done
    best_val: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    done: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    # the epoch's training losses so far: checkpointed, so a resumed epoch's mean covers the whole epoch
    epoch_losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _rng_state() -> dict[str, Any]:
    st = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _clamp_(params: Sequence[torch.nn.Parameter], c: float) -> None:
    if c and c > 0:
        for p in params:
            if p.grad is not None:
                p.grad.clamp_(-c, c)


def _grads(params: Sequence[torch.nn.Parameter]) -> list[torch.Tensor]:
    out = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        out.append(p.grad)
    return out


def _crop(audio: torch.Tensor, crop: int, multiple: int) -> torch.Tensor:
    n = audio.shape[1]
    if crop:
        n = min(n, crop)
    n -= n % multiple
    if n <= 0:
        raise DataError(f"clips of {audio.shape[1]} samples are shorter than one frame of {multiple}")
    return audio[:, :n]


# ---------------------------------------------------------------------------------------------- stage logic
class Stage:
    """What differs between stages: the model, its optimizers, one training batch, validation."""

    name = ""

    def __init__(self, cfg: Config, model: torch.nn.Module, device: torch.device, dist: Dist, amp: bool):
        self.cfg, self.model, self.device, self.dist, self.amp = cfg, model, device, dist, amp
        self.scfg = getattr(cfg.train, self.name)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        """The stage's optimizer (`train.<stage>.optimizer`, lr, weight_decay, momentum) over `params`."""
        c = self.scfg
        if c.optimizer == "asgd":  # the paper's for the encoder; ASGD has no momentum
            return torch.optim.ASGD(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        betas = (c.momentum, 0.999) if c.momentum > 0 else (0.9, 0.999)
        return torch.optim.Adam(params, lr=c.lr, betas=betas, weight_decay=c.weight_decay)

    def make_schedulers(self) -> None:
        """`train.<stage>.scheduler = plateau`: ReduceLROnPlateau per optimizer, stepped on the validation loss."""
        self.schedulers: dict[str, Any] = {}
        if self.scfg.scheduler == "plateau":
            for k, opt in self.optimizers.items():
                self.schedulers[k] = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    opt, mode="min", factor=self.scfg.plateau_factor, patience=self.scfg.plateau_patience
                )

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def check(self, loss: float, st: LoopState) -> None:
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"{self.name}: loss became {loss} at step {st.step + 1} (epoch {st.epoch}); training stopped, "
                "the last good checkpoint is kept",
                fix=f"lower the learning rate (override train.{self.name}.lr) and resume",
            )

    def optimize(self, loss: torch.Tensor, params: Sequence[torch.nn.Parameter], opt: str = "main") -> None:
        loss.backward()
        grads = _grads(params)
        self.dist.allreduce_mean_(grads)
        _clamp_(params, self.cfg.train.grad_clamp)
        self.optimizers[opt].step()
        self.optimizers[opt].zero_grad(set_to_none=True)


class CNNStage(Stage):
    name = "cnn"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizers["main"] = self.make_optimizer(self.params)
        self.make_schedulers()

    def _flat(self, b):
        fr = b["frames"]
        x = fr.reshape(-1, *fr.shape[2:])
        y = b["emotion"].repeat_interleave(fr.shape[1])
        return x, y

    def train_batch(self, b, st: LoopState, log: Callable[[dict], None]) -> None:
        self.model.train()
        x, y = self._flat(b)
        with self.autocast():
            logits, _ = self.model(x)
        loss = F.cross_entropy(logits.float(), y)
        value = self.dist.mean(float(loss.item()))
        self.check(value, st)
        self.optimize(loss, self.params)
        st.step += 1
        acc = float((logits.argmax(-1) == y).float().mean())
        log({"loss": value, "acc": self.dist.mean(acc)})

    @torch.no_grad()
    def validate(self, ds, idx_batches) -> dict[str, float]:
        self.model.eval()
        tot, correct, n = 0.0, 0, 0
        for idx in idx_batches:
            b = _batch(ds, idx, self.device)
            x, y = self._flat(b)
            logits, _ = self.model(x)
            tot += float(F.cross_entropy(logits.float(), y, reduction="sum"))
            correct += int((logits.argmax(-1) == y).sum())
            n += y.numel()
        return {"val_loss": tot / max(n, 1), "val_acc": correct / max(n, 1)}


class EncoderStage(Stage):
    """Encoder + ConvSeq2Seq decoder (CNN fine-tuned as the authors'), L1 on the waveform."""

    name = "encoder"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizers["main"] = self.make_optimizer(self.params)
        self.make_schedulers()

    def _audio(self, b):
        return _crop(b["audio"], self.scfg.crop_samples, self.cfg.baseline.step)

    def train_batch(self, b, st: LoopState, log) -> None:
        self.model.train()
        audio = self._audio(b)
        with self.autocast():
            pred = self.model(b["frames"], audio)
        loss = F.l1_loss(pred.float(), audio)
        value = self.dist.mean(float(loss.item()))
        self.check(value, st)
        self.optimize(loss, self.params)
        st.step += 1
        log({"loss": value})

    @torch.no_grad()
    def validate(self, ds, idx_batches) -> dict[str, float]:
        """L1 of autoregressive generation from the video alone (whatever the training mode)."""
        self.model.eval()
        tot, n = 0.0, 0
        for idx in idx_batches:
            b = _batch(ds, idx, self.device)
            audio = self._audio(b)
            pred = self.model(b["frames"], audio, decoder_input="autoregressive")
            tot += float(F.l1_loss(pred.float(), audio, reduction="sum"))
            n += audio.numel()
        return {"val_loss": tot / max(n, 1)}


class Scene2WavStage(Stage):
    """Conditional SampleRNN with TBPTT; the encoder embedding is computed once per batch.

    Each chunk of `train.seq_len` samples is one optimizer step (decoder: SampleRNN + projection); the carried
    tier states are detached between chunks. When the encoder is fine-tuned (`freeze_encoder=false`), v enters
    the chunks as a leaf whose gradient is accumulated over the batch's chunks and back-propagated through the
    encoder once at the end of the batch (one encoder step per batch; the encoder is constant within a batch).
    """

    name = "scene2wav"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        m: Scene2Wav = self.model
        self.dec_params = m.decoder_parameters()
        self.enc_params = m.encoder_parameters()
        self.optimizers["main"] = self.make_optimizer(self.dec_params)
        if self.enc_params:
            self.optimizers["encoder"] = self.make_optimizer(self.enc_params)
        self.make_schedulers()
        self.srnn: ConditionalSampleRNN = m.samplernn

    def codes(self, audio: torch.Tensor) -> torch.Tensor:
        audio = _crop(audio, self.scfg.crop_samples, self.srnn.lookback)
        codes = self.srnn.quantizer.encode(audio.float().cpu()).to(audio.device)
        prefix = torch.full(
            (codes.shape[0], self.srnn.lookback),
            q_zero(self.srnn.q_levels),
            dtype=torch.long,
            device=audio.device,
        )
        return torch.cat([prefix, codes], dim=1)

    def chunks(self, total: int):
        lb, sl = self.srnn.lookback, self.cfg.train.seq_len
        for start in range(lb, total, sl):
            yield start, min(sl, total - start)

    def train_batch(self, b, st: LoopState, log) -> None:
        m: Scene2Wav = self.model
        m.train()
        seq = self.codes(b["audio"])
        with self.autocast():
            v_full = m.embed(b["frames"]) if self.srnn.cond_dim else None
        v = None
        if v_full is not None:
            v = v_full.detach().float().requires_grad_(bool(self.enc_params))
        state = self.srnn.initial_state(v, seq.shape[0])
        lb = self.srnn.lookback
        for start, t in self.chunks(seq.shape[1]):
            inp = seq[:, start - lb : start + t - 1]
            tgt = seq[:, start : start + t]
            with self.autocast():
                logp, state = self.srnn(inp, state, v)
            loss = ConditionalSampleRNN.nll_bits(logp.float(), tgt)
            value = self.dist.mean(float(loss.item()))
            self.check(value, st)
            self.optimize(loss, self.dec_params)
            state = [s.detach() for s in state]
            st.step += 1
            log({"loss": value})
        if self.enc_params and v is not None and v.grad is not None:
            v_full.float().backward(v.grad)
            grads = _grads(self.enc_params)
            self.dist.allreduce_mean_(grads)
            _clamp_(self.enc_params, self.cfg.train.grad_clamp)
            self.optimizers["encoder"].step()
            self.optimizers["encoder"].zero_grad(set_to_none=True)

    @torch.no_grad()
    def validate(self, ds, idx_batches) -> dict[str, float]:
        m: Scene2Wav = self.model
        m.eval()
        tot, n = 0.0, 0
        lb = self.srnn.lookback
        for idx in idx_batches:
            b = _batch(ds, idx, self.device)
            seq = self.codes(b["audio"])
            v = m.embed(b["frames"]) if self.srnn.cond_dim else None
            state = self.srnn.initial_state(v, seq.shape[0])
            for start, t in self.chunks(seq.shape[1]):
                with self.autocast():
                    logp, state = self.srnn(seq[:, start - lb : start + t - 1], state, v)
                tgt = seq[:, start : start + t]
                tot += float(
                    F.nll_loss(logp.float().reshape(-1, logp.shape[-1]), tgt.reshape(-1), reduction="sum")
                ) * math.log2(math.e)
                n += tgt.numel()
        m.train()
        return {"val_loss": tot / max(n, 1)}


STAGE_CLASSES = {"cnn": CNNStage, "encoder": EncoderStage, "scene2wav": Scene2WavStage}


# ---------------------------------------------------------------------------------------------- building
def _upstream(out_dir: Path, stage: str) -> Path | None:
    prev = {"encoder": "cnn", "scene2wav": "encoder"}.get(stage)
    return None if prev is None else out_dir / prev / "best.pt"


def build_stage_model(stage: str, cfg: Config, out_dir: Path, init: str | Path | None = None):
    """The stage's network, initialised from the previous stage's best checkpoint (or `init`)."""
    if stage == "cnn":
        model = VisualCNN(cfg.cnn, image_size=cfg.data.image_size)
        if init is not None and str(init) != "random":  # fine-tune a CNN checkpoint
            cnn, ccfg, _ = load_model(init, eval_mode=False)
            if not isinstance(cnn, VisualCNN):
                raise DataError("expected a CNN checkpoint (from the cnn stage)", init)
            if ccfg.data.image_size != cfg.data.image_size:
                raise DataError(
                    f"the CNN was trained on {ccfg.data.image_size}px frames, this dataset has "
                    f"{cfg.data.image_size}px",
                    init,
                    fix="prepare the data at the CNN's frame size, or start from random",
                )
            cfg.cnn = ccfg.cnn
            model = VisualCNN(cfg.cnn, image_size=cfg.data.image_size)
            model.load_state_dict(cnn.state_dict())
        return model, cfg
    src = Path(init) if init else _upstream(out_dir, stage)
    if src is None or not src.exists():
        if init == "random" or str(init) == "random":
            src = None
        else:
            prev = {"encoder": "cnn", "scene2wav": "encoder"}[stage]
            raise UsageError(
                f"stage {stage!r} starts from the {prev!r} stage's best checkpoint, not found",
                src,
                fix=f"train the {prev} stage into the same output folder first "
                f"(`s2w-models train {prev}`, or `all`)",
            )
    if stage == "encoder":
        model = ConvSeq2Seq(cfg.baseline, cfg.encoder, cfg.cnn, cfg.data.frames_per_clip, cfg.data.image_size)
        if src is not None:
            cnn, ccfg, _ = load_model(src, eval_mode=False)
            if not isinstance(cnn, VisualCNN):
                raise DataError("expected a CNN checkpoint", src)
            model.encoder.cnn.load_state_dict(cnn.state_dict())
            cfg.cnn = ccfg.cnn
        return model, cfg
    # scene2wav
    if src is not None:
        base, bcfg, _ = load_model(src, eval_mode=False)
        if not isinstance(base, ConvSeq2Seq):
            raise DataError("expected an encoder (baseline) checkpoint", src)
        cfg.encoder, cfg.cnn = bcfg.encoder, bcfg.cnn
        model = Scene2Wav(cfg)
        model.encoder.load_state_dict(base.encoder.state_dict())
    else:
        model = Scene2Wav(cfg)
    return model, cfg


V_STATS_CLIPS = 512  # training clips whose embeddings give the condition's mean and std


@torch.no_grad()
def _measure_v_stats(model: Scene2Wav, train_ds, dev: torch.device) -> None:
    """Mean and std of the (frozen or initial) encoder's embeddings of the first training clips, in eval mode
    (deterministic, the same on every process); stored in the model (`Scene2Wav.set_v_stats`)."""
    n = min(len(train_ds), V_STATS_CLIPS)
    if n < 2:
        return
    was = model.encoder.training
    model.encoder.eval()
    vs = [
        model.encoder.embed(_batch(train_ds, list(range(i, min(i + 16, n))), dev)["frames"])
        for i in range(0, n, 16)
    ]
    model.encoder.train(was)
    model.set_v_stats(torch.cat(vs).float())


# ---------------------------------------------------------------------------------------------- the loop
def _restores_threads(fn):
    """Training may pin torch to fewer threads (cfg.train.threads); the caller's setting comes back after."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        before = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


@_restores_threads
def run_stage(
    stage: str,
    cfg: Config,
    train_ds,
    val_ds,
    out_dir: str | Path,
    *,
    resume: bool = False,
    device: str = "cpu",
    amp: bool = False,
    progress: bool = True,
    init: str | Path | None = None,
    resume_overrides: dict[str, Any] | list[str] | None = None,
    _interrupt_after: int | None = None,
) -> dict[str, Any]:
    """Train one stage on the given datasets; returns the stage summary (also written to summary.json)."""
    if stage not in STAGES:
        raise UsageError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}, all")
    out_dir = Path(out_dir)
    folder = out_dir / stage
    dev = resolve_device(device)  # before anything else: a bad name is a usage error, not a traceback
    dist = init_distributed(str(dev))
    if dev.type == "cuda" and dist.world > 1:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.rank)))
        torch.cuda.set_device(dev)
    last = folder / "last.pt"
    payload = None
    if resume and last.exists():
        payload = read_checkpoint(last)
        if "train_state" not in payload:
            raise DataError("checkpoint has no training state to resume from", last)
        # the stored config rebuilds the run; only `train.*` overrides (epochs, max_steps, patience, ...) apply
        cfg = apply_overrides(Config.from_dict(payload["config"]), _train_only(resume_overrides))
    elif resume and dist.main:
        print(f"note: nothing to resume in {folder}; starting {stage} from scratch")
    cfg = cfg.copy().validate()
    if len(train_ds) == 0:
        raise DataError(f"the training split is empty; nothing to train the {stage} stage on")
    scfg = getattr(cfg.train, stage)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    if payload is not None:
        from .nets import build_model

        model = build_model(STAGE_MODEL[stage], cfg)
        model.load_state_dict(payload["model"])
    else:
        model, cfg = build_stage_model(stage, cfg, out_dir, init)
    model.to(dev)
    if payload is None and stage == "scene2wav" and cfg.samplernn.standardize_v:
        _measure_v_stats(model, train_ds, dev)
    runner = STAGE_CLASSES[stage](cfg, model, dev, dist, amp)
    st = LoopState()
    if payload is not None:
        ts = payload["train_state"]
        for k, v in ts["loop"].items():
            setattr(st, k, v)
        # a run stopped by its limits may continue when they were raised (--set train.<stage>.epochs=...);
        # an early-stopped run stays stopped
        early = st.done and scfg_patience(cfg, stage) and st.bad_epochs >= scfg_patience(cfg, stage)
        st.done = bool(early)
        for k, opt in runner.optimizers.items():
            opt.load_state_dict(ts["optimizers"][k])
        for k, sch in runner.schedulers.items():
            if k in ts.get("schedulers", {}):
                sch.load_state_dict(ts["schedulers"][k])
        _set_rng_state(ts["rng"][dist.rank] if isinstance(ts["rng"], list) else ts["rng"])
    logger = Logger(folder, dist.main, st.step if payload is not None else None)

    world = dist.world
    gbatch = scfg.batch_size
    if gbatch % world:
        raise UsageError(f"batch size {gbatch} is not divisible by the {world} processes")
    if gbatch > len(train_ds):
        gbatch = max(world, len(train_ds) - len(train_ds) % world)
        if dist.main:
            print(f"note: batch size lowered to {gbatch} (only {len(train_ds)} training clips)")
    has_val = val_ds is not None and len(val_ds) > 0
    if not has_val and dist.main:
        print("warning: no validation split: the best checkpoint is chosen on the training loss")
    n_val = len(val_ds) if has_val else 0
    if cfg.train.max_val_clips:
        n_val = min(n_val, cfg.train.max_val_clips)
    vb = max(1, min(scfg.batch_size, 16))
    val_idx = [list(range(i, min(i + vb, n_val)))[dist.rank :: world] for i in range(0, n_val, vb)]
    val_idx = [v for v in val_idx if v]
    t0 = time.time()
    stopped = "completed"
    ckpt_every = max(1, cfg.train.ckpt_every)
    next_ckpt = (st.step // ckpt_every + 1) * ckpt_every

    def save(path: Path, with_state: bool, extra_meta: dict | None = None) -> None:
        if with_state:
            rng = _rng_state()
            if world > 1:
                gathered: list[Any] = [None] * world
                torch.distributed.all_gather_object(gathered, rng)
                rng = gathered
        if not dist.main:
            return
        meta = {
            "stage": stage,
            "epoch": st.epoch,
            "step": st.step,
            "best_val_loss": st.best_val,
            "best_epoch": st.best_epoch,
            "world_size": world,
            "provenance": provenance(command=f"s2w-models train {stage}", seeds={"seed": cfg.train.seed}),
        }
        meta.update(extra_meta or {})
        ts = None
        if with_state:
            ts = {
                "loop": st.to_dict(),
                "optimizers": {k: o.state_dict() for k, o in runner.optimizers.items()},
                "schedulers": {k: o.state_dict() for k, o in runner.schedulers.items()},
                "rng": rng,
            }
        save_checkpoint(path, model, cfg, meta, ts, kind=STAGE_MODEL[stage])

    rows_buffer: dict[str, Any] = {}

    def log_step(row: dict[str, Any]) -> None:
        rows_buffer["last"] = row
        if dist.main:
            logger.step(
                {
                    "step": st.step,
                    "epoch": st.epoch,
                    "batch": st.batch,
                    **row,
                    "seconds": round(time.time() - t0, 3),
                }
            )

    from s2w_eval.progress import Progress

    try:
        with StopFlag() as flag:
            while not st.done and st.epoch < scfg.epochs:
                if scfg.max_steps and st.step >= scfg.max_steps:
                    break
                batches = epoch_batches(len(train_ds), gbatch, cfg.train.seed, st.epoch)
                bar = Progress(
                    len(batches),
                    f"{stage} epoch {st.epoch + 1}/{scfg.epochs}",
                    "batch",
                    enabled=bool(progress and dist.main),
                    initial=st.batch,
                )
                losses = st.epoch_losses  # appended in place, so it is saved in every checkpoint
                while st.batch < len(batches):
                    idx = batches[st.batch][dist.rank :: world]
                    b = _batch(train_ds, idx, dev)
                    runner.train_batch(b, st, log_step)
                    losses.append(rows_buffer["last"]["loss"])
                    st.batch += 1
                    bar.update(1)
                    bar.set_postfix(loss=f"{rows_buffer['last']['loss']:.4f}")
                    limit = scfg.max_steps and st.step >= scfg.max_steps
                    interrupt = flag.requested or (
                        _interrupt_after is not None and st.step >= _interrupt_after
                    )
                    if world > 1:
                        t = torch.tensor([1.0 if interrupt else 0.0])
                        torch.distributed.all_reduce(t)
                        interrupt = bool(t.item() > 0)
                    if interrupt:
                        save(last, True)
                        stopped = "interrupted"
                        break
                    if st.step >= next_ckpt and st.batch < len(batches) and not limit:
                        save(last, True)
                        next_ckpt = (st.step // ckpt_every + 1) * ckpt_every
                    if limit:
                        break
                bar.close()
                if stopped == "interrupted":
                    break
                # end of epoch (or step limit): validate, keep best, early stopping
                partial = st.batch < len(
                    batches
                )  # stopped by max_steps mid-epoch: resume continues this epoch
                row = {
                    "epoch": st.epoch,
                    "step": st.step,
                    "train_loss": sum(losses) / max(len(losses), 1),
                    "partial": partial,
                }
                if has_val and val_idx:
                    vals = runner.validate(val_ds, val_idx)
                    vals = {k: dist.mean(v) for k, v in vals.items()}
                else:
                    vals = {"val_loss": row["train_loss"]}
                row.update(vals)
                if not partial:
                    for sch in runner.schedulers.values():
                        sch.step(vals["val_loss"])
                row["lr"] = runner.optimizers["main"].param_groups[0]["lr"]
                improved = vals["val_loss"] < st.best_val
                if improved:
                    st.best_val, st.best_epoch, st.bad_epochs = vals["val_loss"], st.epoch, 0
                elif not partial:
                    st.bad_epochs += 1
                row["best"] = improved
                row["seconds"] = round(time.time() - t0, 3)
                st.history.append(row)
                logger.epoch(row)
                if not partial:
                    st.epoch += 1
                    st.batch = 0
                    st.epoch_losses = []
                if scfg.patience and st.bad_epochs >= scfg.patience:
                    st.done = True
                    stopped = "early_stopped"
                if scfg.max_steps and st.step >= scfg.max_steps:
                    st.done = True
                    stopped = "max_steps"
                if improved:
                    save(folder / "best.pt", False, {"val_loss": vals["val_loss"]})
                save(last, True)
                next_ckpt = (st.step // ckpt_every + 1) * ckpt_every
        dist.barrier()
    finally:
        logger.close()
    summary = {
        "stage": stage,
        "status": stopped,
        "epochs": st.epoch,
        "steps": st.step,
        "best_val_loss": st.best_val if math.isfinite(st.best_val) else None,
        "best_epoch": st.best_epoch,
        "loss_unit": {
            "cnn": "cross-entropy (nats)",
            "encoder": "L1 on waveform in [-1,1]",
            "scene2wav": "NLL bits per sample",
        }[stage],
        "seconds": round(time.time() - t0, 3),
        "world_size": world,
        "device": str(dev),
        "history": st.history,
        "logging": logger.tb_note if dist.main else "",
        "checkpoints": {"last": str(last), "best": str(folder / "best.pt")},
    }
    if dist.main:
        atomic_write_json(
            folder / "summary.json",
            {
                "provenance": provenance(command=f"s2w-models train {stage}", seeds={"seed": cfg.train.seed}),
                "config": cfg.to_dict(),
                **summary,
            },
        )
    return summary


def scfg_patience(cfg: Config, stage: str) -> int:
    return getattr(cfg.train, stage).patience


def _train_only(overrides) -> list[str] | dict[str, Any]:
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return {k: v for k, v in overrides.items() if k.startswith("train.")}
    return [o for o in overrides if o.strip().startswith("train.")]


def make_config(preset: str = "tiny", overrides=None, meta: dict[str, Any] | None = None) -> Config:
    cfg = get_preset(preset)
    if meta:
        _meta_to_config(cfg, meta)
    return apply_overrides(cfg, overrides)


def train_stage(
    stage: str,
    data_dir: str | Path | None,
    out_dir: str | Path,
    preset: str = "tiny",
    overrides: dict[str, Any] | list[str] | None = None,
    resume: bool = False,
    *,
    device: str = "cpu",
    amp: bool = False,
    progress: bool = True,
    datasets: tuple[Any, Any] | None = None,
    init: str | Path | None = None,
    _interrupt_after: int | None = None,
) -> dict[str, Any]:
    """Train `stage` ("cnn", "encoder", "scene2wav" or "all") on a prepared dataset folder.

    `datasets=(train, val)` replaces `data_dir` (any torch Dataset with SpliceDataset's items and `.meta`).
    Returns {stage: summary} for the stages run.
    """
    stages = list(STAGES) if stage == "all" else [stage]
    resolve_device(device)  # a wrong device is a usage error before any data is read
    if init is not None and stage == "all":
        raise UsageError(
            "a starting checkpoint applies to one stage; `all` chains the stages itself",
            fix="train the stage alone (e.g. stage encoder) with the checkpoint, then the next",
        )
    if stage != "all" and stage not in STAGES:
        from s2w_eval.clikit import did_you_mean

        raise UsageError(
            f"unknown stage {stage!r}{did_you_mean(stage, [*STAGES, 'all'])}; choose from "
            f"{', '.join(STAGES)}, all"
        )
    if datasets is None:
        if data_dir is None:
            raise UsageError(
                "no data given",
                fix="give data_dir, a folder prepared by `s2w-models data prepare`, or datasets=(train, val)",
                param="data_dir",
            )
        train_ds, val_ds = open_datasets(data_dir)
    else:
        train_ds, val_ds = datasets
    meta = getattr(train_ds, "meta", None) or {}
    cfg = make_config(preset, overrides, meta)
    out: dict[str, Any] = {}
    for s in stages:
        out[s] = run_stage(
            s,
            cfg,
            train_ds,
            val_ds,
            out_dir,
            resume=resume,
            device=device,
            amp=amp,
            progress=progress,
            init=init if stage != "all" else None,
            resume_overrides=overrides,
            _interrupt_after=_interrupt_after,
        )
        if out[s]["status"] == "interrupted":
            break
    return out
