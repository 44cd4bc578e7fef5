"""Generation: Scene2Wav and baseline audio for the scenes of a split, written as a run (docs/generation.md).

```
<run>/samples.csv                  sample, emotion, valence, source, start_s
<run>/target/<sample>.wav          the scene's real audio (the reference)
<run>/<model>/<sample>.wav         16 kHz generated audio, one folder per model (scene2wav, baseline)
<run>/<model>/<sample>.json        sidecar: model, checkpoint sha256, seeds, temperature, top_k, protocol, ...
<run>/scenes/<sample>.mp4          the scene video with its real audio
<run>/scenes/<cond>/<sample>.mp4   the scene video muxed with each condition's audio (surveys use these)
<run>/generation.json              what was asked, what was done, speed, provenance
```
Selection is seeded and balanced by emotion, never by outcome. Each clip has its own random stream derived
from (seed, sample id), so its audio is the same whether it was generated alone, in any batch, or on a rerun.
A rerun skips every clip whose wav and sidecar exist and match (checkpoint hash, seed, temperature, top-k,
length); the rest is generated. Scene2Wav uses the fast incremental sampler (`s2w_models.sampler`).

Python entry point: `generate_run(checkpoints, data_dir, out_run, split="test", n=None, seed=0, ...)`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2w_eval import __version__
from s2w_eval.errors import DataError, Problem, UsageError
from s2w_eval.io.device import resolve_device  # noqa: F401 (also this module's API)
from s2w_eval.results import atomic_write_bytes, atomic_write_csv, atomic_write_json, provenance, sha256_file

from .sampler import FoldedSampleRNN, FoldedTier, cpu_threads, sample, small_work_threads

MODELS = ("scene2wav", "baseline")
PRECISIONS = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
}  # bf16: the sampler's matrices (faster, not exact)
REFERENCE = "target"
VIDEO_MIN_SIDE = (
    300  # scene videos are upscaled (nearest, integer factor) to at least this many pixels a side
)
POSTPROCESS = "dequantised to [-1, 1]; DC offset removed (clip mean subtracted); peak kept <= 1"


# ------------------------------------------------------------------------------------------------ folding
def fold_samplernn(srnn) -> FoldedSampleRNN:
    """Plain-tensor copy of a `ConditionalSampleRNN` for the fast sampler (the module is not modified).

    Weight norm is evaluated once; the upsampling transposed convolutions become (dim, r*dim) matrices; the
    MLP's embedding x 16-tap input convolution becomes (16*Q, dim) look-up tables.
    """
    from .nets.quantize import frame_input, q_zero

    q = srnn.q_levels
    with torch.no_grad():

        def c(t: torch.Tensor) -> torch.Tensor:
            return t.detach().float().clone().contiguous()

        tiers = []
        for tier in reversed(list(srnn.tiers)):  # the sampler wants the top tier first
            w_in = tier.input_expand.weight.squeeze(-1)  # (dim, nfs)
            layers = [
                (c(g.weight_ih_l0), c(g.weight_hh_l0), c(g.bias_ih_l0), c(g.bias_hh_l0))
                for g in tier.rnn.layers
            ]
            wu = tier.upsampling.conv.weight  # (dim_in, dim_out, r)
            tiers.append(
                FoldedTier(
                    n_frame_samples=tier.n_frame_samples,
                    frame_size=tier.frame_size,
                    w_in=c(w_in.t()),
                    b_in=c(tier.input_expand.bias),
                    layers=layers,
                    w_up=c(wu.permute(2, 0, 1)),  # (r, in, out)
                    b_up=c(tier.upsampling.bias.t()),
                    cond_dim=int(tier.rnn.cond_dim),
                )
            )
        mlp = srnn.mlp
        tables = mlp.input_tables()  # (k, Q, dim)
        return FoldedSampleRNN(
            tiers=tiers,
            frame_table=c(frame_input(torch.arange(q), q)),
            mlp_table=c(tables.reshape(-1, tables.shape[-1])),
            mlp_taps=int(mlp.frame_size),
            mlp_hidden=[(c(mlp.hidden.weight.squeeze(-1)), c(mlp.hidden.bias))],
            mlp_out=(c(mlp.output.weight.squeeze(-1)), c(mlp.output.bias)),
            q_levels=q,
            q_zero=q_zero(q),
        )


def postprocess(wave: torch.Tensor | np.ndarray) -> np.ndarray:
    """(B, L) or (L,) float -> float32 with each clip's mean removed and its peak kept within [-1, 1]."""
    w = np.asarray(wave.detach().cpu().numpy() if torch.is_tensor(wave) else wave, dtype=np.float64)
    w = w - w.mean(axis=-1, keepdims=True)
    peak = np.abs(w).max(axis=-1, keepdims=True)
    w = np.where(peak > 1.0, w / np.where(peak > 0, peak, 1.0), w)
    return w.astype(np.float32)


def clip_seed(seed: int, sample_id: str, model: str = "scene2wav") -> int:
    """A clip's own random stream: a function of the run seed, the model and the sample id only."""
    h = hashlib.sha256(f"{int(seed)}|{model}|{sample_id}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def padded_length(n: int, hop: int) -> int:
    return int(math.ceil(n / hop) * hop)


# ------------------------------------------------------------------------------------------- generators
class Scene2WavGenerator:
    """Batched generation with a loaded `Scene2Wav` model: frames -> embedding -> fast sampler -> waveform."""

    kind = "scene2wav"

    def __init__(self, model, device: torch.device | str = "cpu", precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.srnn = model.samplernn
        self.precision = precision
        self.folded = fold_samplernn(self.srnn).to(self.device, PRECISIONS[precision])

    @property
    def hop(self) -> int:
        return self.folded.hop

    def __call__(
        self,
        frames: torch.Tensor,
        n_samples: int,
        seeds: Sequence[int],
        temperature: float = 1.0,
        top_k: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        with torch.inference_mode():
            frames = frames.to(self.device)
            v = self.model.embed(frames)
            state = self.srnn.initial_state(v, frames.shape[0])
            h0 = list(reversed(state))
            length = padded_length(n_samples, self.hop)
            res = sample(
                self.folded,
                h0,
                length,
                seeds,
                temperature=temperature,
                top_k=top_k,
                progress=progress,
                v=v if self.srnn.gates else None,
            )
            wave = self.srnn.quantizer.decode(res.codes[:, :n_samples].cpu())
        return postprocess(wave)


class BaselineGenerator:
    """The ConvSeq2Seq baseline, decoding from the video alone (`ConvSeq2Seq.generate`); deterministic."""

    kind = "baseline"
    hop = 1

    def __init__(self, model, device: torch.device | str = "cpu"):
        self.model = model.eval().to(device)
        self.device = torch.device(device)

    def __call__(
        self,
        frames: torch.Tensor,
        n_samples: int,
        seeds: Sequence[int],
        temperature: float = 1.0,
        top_k: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        hidden = self.model.encoder.cfg.hidden
        small = small_work_threads(hidden, frames.shape[0]) if self.device.type == "cpu" else None
        with torch.inference_mode(), cpu_threads(small):
            frames = frames.to(self.device)
            v = self.model.encoder.embed(frames)
            wave = self.model.generate(v, n_samples)
        if progress is not None:
            progress(n_samples)
        return postprocess(wave.float())


def make_generator(model, kind: str, device: torch.device | str = "cpu", precision: str = "fp32"):
    if kind == "scene2wav":
        return Scene2WavGenerator(model, device, precision)
    if kind == "baseline":
        return BaselineGenerator(model, device)
    raise UsageError(
        f"a {kind!r} checkpoint cannot generate audio", fix="pass a scene2wav or baseline checkpoint"
    )


# ---------------------------------------------------------------------------------------------- selection
def select_samples(emotions: Sequence[str], n: int | None, seed: int) -> list[int]:
    """Seeded selection balanced by emotion: indices (in dataset order) of n samples, n/k per class.

    The classes are those of the label scheme holding the emotions (valence2: negative, positive; valence3 adds
    neutral; quadrant has four). The n % k extra ones go to classes the seed draws. When a class has too few
    samples, all of them are taken and the rest comes from the others, evenly. Never looks at any output.
    """
    from s2w_eval.vocab import scheme_of_classes

    emotions = list(emotions)
    total = len(emotions)
    if n is None or n >= total:
        return list(range(total))
    if n <= 0:
        raise UsageError(f"must be positive, got {n}", param="n")
    rng = np.random.default_rng(seed)
    scheme = scheme_of_classes(emotions)
    classes = list(scheme.classes) if scheme is not None else sorted(set(emotions))
    groups = {e: [i for i, x in enumerate(emotions) if x == e] for e in classes}
    want = dict.fromkeys(classes, n // len(classes))
    pool = list(classes)
    for _ in range(n % len(classes)):  # one draw each (for two classes: negative iff < 0.5)
        want[pool.pop(int(rng.random() * len(pool)))] += 1
    for a in classes:
        short = want[a] - len(groups[a])
        if short <= 0:
            continue
        want[a] -= short
        while short > 0:  # one at a time, round the other classes that have samples to spare
            spare = [b for b in classes if b != a and len(groups[b]) > want[b]]
            for b in spare[:short]:
                want[b] += 1
                short -= 1
    chosen: list[int] = []
    for e in classes:
        idx = groups[e]
        if want[e]:
            chosen.extend(int(i) for i in rng.choice(idx, size=want[e], replace=False))
    return sorted(chosen)


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class ModelSpec:
    kind: str
    checkpoint: Path
    sha256: str
    model: Any
    config: Any
    meta: dict


@dataclass
class GenerateResult:
    run: Path
    samples: list[str]
    generated: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    rtf: dict[str, float | None] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def load_models(
    checkpoints: Sequence[str | Path] | str | Path,
    models: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
) -> list[ModelSpec]:
    """Load each checkpoint (one per model kind) and keep those named in `models` (default: all given)."""
    from .checkpoint import load_model

    if isinstance(checkpoints, str | Path):
        checkpoints = [checkpoints]
    if not checkpoints:
        raise UsageError("no checkpoint given", fix="give one checkpoint per model", param="checkpoints")
    specs: dict[str, ModelSpec] = {}
    for ck in checkpoints:
        ck = Path(ck)
        model, cfg, meta = load_model(ck, device="cpu")
        kind = meta["kind"]
        if kind not in MODELS:
            raise UsageError(
                f"a {kind!r} checkpoint cannot generate audio",
                ck,
                "pass a scene2wav or baseline checkpoint (train them with `s2w-models train`)",
            )
        if kind in specs:
            raise UsageError(
                f"two {kind} checkpoints given ({specs[kind].checkpoint} and {ck})",
                ck,
                "pass one checkpoint per model",
            )
        specs[kind] = ModelSpec(kind, ck, sha256_file(ck), model, cfg, meta)
    wanted = list(models) if models else list(specs)
    for m in wanted:
        if m not in MODELS:
            from s2w_eval.clikit import did_you_mean

            raise UsageError(f"unknown model {m!r}{did_you_mean(m, MODELS)}; choose from {', '.join(MODELS)}")
        if m not in specs:
            raise UsageError(
                f"names {m!r} but no {m} checkpoint was given",
                fix=f"give a {m} checkpoint too (e.g. PATH/TO/{m}.pt)",
                param="models",
            )
    return [specs[m] for m in wanted]


def _hsv_to_rgb_uint8(frames: np.ndarray) -> np.ndarray:
    """(F, 3, H, W) HSV in [0, 1] -> (F, H, W, 3) RGB uint8."""
    from s2w_eval.io.video import hsv_to_rgb

    rgb = hsv_to_rgb(np.transpose(frames, (0, 2, 3, 1)))
    out = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    scale = max(1, -(-VIDEO_MIN_SIDE // min(out.shape[1], out.shape[2])))
    if (
        scale > 1
    ):  # 100 x 100 model frames are too small to watch in a survey: integer (pixel-exact) upscaling
        out = np.repeat(np.repeat(out, scale, axis=1), scale, axis=2)
    return out


def _sidecar_matches(path: Path, want: dict[str, Any]) -> bool:
    import json

    try:
        have = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(have, dict) and all(have.get(k) == v for k, v in want.items())


def generate_run(
    checkpoints: Sequence[str | Path] | str | Path,
    data_dir: str | Path,
    out_run: str | Path,
    split: str = "test",
    n: int | None = None,
    seed: int | None = None,
    *,
    protocol: str | Path | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    batch_size: int = 32,
    device: str | torch.device | None = "cpu",
    models: Sequence[str] | None = None,
    video: bool = True,
    progress: bool = True,
    precision: str = "fp32",
) -> GenerateResult:
    """Generate a run (docs/generation.md) for the scenes of `split` of the prepared dataset `data_dir`.

    checkpoints: one per model (scene2wav and/or baseline); models: which of them to run (default: all given).
    protocol: a protocol name or file; it sets the clip duration, checks the sample rate, and gives the default
    seeds (`seeds.selection`, `seeds.generation`). seed: overrides both seeds. precision: "fp32" (exact) or
    "bf16" (Scene2Wav's sampler matrices in bfloat16: faster on CPUs with AVX512-BF16/AMX and on GPUs; the
    per-step log-probabilities then differ by ~1e-2). Returns a `GenerateResult`;
    problems (a clip whose output is not finite, a video that could not be written) are collected, the rest done.
    """
    from s2w_eval.io.audio import write_wav
    from s2w_eval.progress import Progress

    from .data.dataset import SpliceDataset

    if temperature < 0:
        raise UsageError(f"must be >= 0 (0 = greedy), got {temperature}", param="temperature")
    if top_k is not None and top_k <= 0:
        top_k = None
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if batch_size <= 0:
        raise UsageError(f"must be positive, got {batch_size}", param="batch_size")
    dev = resolve_device(device)
    proto = None
    if protocol is not None:
        from s2w_eval.protocols import load_protocol

        proto = load_protocol(protocol)
    sel_seed = int(seed) if seed is not None else (proto.seed("selection") if proto else 0)
    gen_seed = int(seed) if seed is not None else (proto.seed("generation") if proto else 0)

    ds = SpliceDataset(data_dir, split)
    if len(ds) == 0:
        raise DataError(f"split {split!r} has no samples", data_dir, "choose another split")
    meta = ds.meta
    sr = int(meta.get("sample_rate", 16000))
    clip_len = int(meta.get("audio_len", 0)) or int(round(float(meta["seconds"]) * sr))
    if proto is not None:
        if proto.sample_rate != sr:
            raise UsageError(
                f"protocol {proto.name} wants {proto.sample_rate} Hz but the data is {sr} Hz",
                data_dir,
                "prepare the data at the protocol's sample rate or pick another protocol",
            )
        n_samples = proto.samples_per_clip
        if n_samples > clip_len:
            raise UsageError(
                f"protocol {proto.name} wants {proto.duration} s clips but the data's clips are "
                f"{clip_len / sr:g} s",
                data_dir,
                "prepare the data with longer splices",
            )
    else:
        n_samples = clip_len
    duration = n_samples / sr
    fps = float(meta.get("fps", 10))

    specs = load_models(checkpoints, models)
    frames_per_clip = int(meta.get("frames_per_clip", 0))
    for s in specs:
        want_f = s.config.data.frames_per_clip
        if frames_per_clip and want_f != frames_per_clip:
            raise UsageError(
                f"the {s.kind} checkpoint was trained on {want_f} frames per clip, the data has "
                f"{frames_per_clip}",
                s.checkpoint,
                "generate from data prepared like its training data",
            )

    df = ds.samples
    chosen = select_samples(df["emotion"].tolist(), n, sel_seed)
    ids = [str(df["sample"].iloc[i]) for i in chosen]
    run = Path(out_run)
    run.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in chosen:
        r = df.iloc[i]
        rows.append(
            {
                "sample": str(r["sample"]),
                "emotion": str(r["emotion"]),
                "valence": float(r["valence"]),
                "source": str(r["movie"]),
                "start_s": float(r["start_s"]),
            }
        )
    existing = run / "samples.csv"
    if existing.exists():
        from s2w_eval.io.runs import read_samples_csv

        try:
            have = [smp.id for smp in read_samples_csv(existing)[0]]
        except DataError:
            have = None
        if have is not None and have and have != ids:
            raise UsageError(
                f"the run already holds a different selection of {len(have)} scenes (this one: {len(ids)})",
                existing,
                "write to a new run folder, or use the same data, split, n and seed as before to resume",
            )
    atomic_write_csv(run / "samples.csv", rows, ["sample", "emotion", "valence", "source", "start_s"])
    result = GenerateResult(run, ids)
    proto_info = {"name": proto.name, "version": proto.version} if proto else None

    # the reference audio, and the scene videos with it
    need_frames = video
    for i, sid in zip(chosen, ids, strict=True):
        _, audio = ds.arrays(i)
        a = audio[:n_samples].astype(np.float32) / (32768.0 if audio.dtype == np.int16 else 1.0)
        wav = run / REFERENCE / f"{sid}.wav"
        if not wav.exists():
            write_wav(wav, a, sr)
        if need_frames and not (run / "scenes" / f"{sid}.mp4").exists():
            _write_scene(run, sid, ds[i]["frames"].numpy(), fps, duration, wav, sr, None, result)
        if need_frames and not (run / "scenes" / REFERENCE / f"{sid}.mp4").exists():
            src = run / "scenes" / f"{sid}.mp4"
            if src.exists():
                atomic_write_bytes(run / "scenes" / REFERENCE / f"{sid}.mp4", src.read_bytes())

    for spec in specs:
        gen = make_generator(spec.model, spec.kind, dev, precision)
        cond = spec.kind
        s2w = spec.kind == "scene2wav"
        base = {
            "model": spec.kind,
            "checkpoint_sha256": spec.sha256,
            "seed": gen_seed,
            "temperature": float(temperature) if s2w else None,
            "top_k": top_k if s2w else None,
            "precision": precision if s2w else "fp32",
            "n_samples": n_samples,
            "sample_rate": sr,
        }
        todo = [
            (i, sid)
            for i, sid in zip(chosen, ids, strict=True)
            if not (
                (run / cond / f"{sid}.wav").exists() and _sidecar_matches(run / cond / f"{sid}.json", base)
            )
        ]
        result.skipped[cond] = len(ids) - len(todo)
        result.generated[cond] = 0
        t_model = 0.0
        bar = Progress(len(todo) * n_samples, f"{cond} ({len(todo)} clips)", "sample", enabled=bool(progress))
        try:
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                frames = torch.stack([ds[i]["frames"] for i, _ in batch])
                seeds = [clip_seed(gen_seed, sid, spec.kind) for _, sid in batch]
                t0 = time.perf_counter()
                nb = len(batch)
                waves = gen(
                    frames,
                    n_samples,
                    seeds,
                    temperature=temperature,
                    top_k=top_k,
                    progress=lambda k, nb=nb, bar=bar: bar.update(min(k, n_samples) * nb),
                )
                dt = time.perf_counter() - t0
                t_model += dt
                for (i, sid), w, s in zip(batch, waves, seeds, strict=True):
                    wav = run / cond / f"{sid}.wav"
                    if not np.all(np.isfinite(w)) or not np.any(w):
                        result.problems.append(
                            Problem(
                                str(wav),
                                f"{cond} produced {'silent' if np.all(np.isfinite(w)) else 'non-finite'} audio; not written",
                            )
                        )
                        continue
                    write_wav(wav, w, sr)
                    side = dict(base)
                    side.update(
                        {
                            "condition": cond,
                            "sample": sid,
                            "clip_seed": s,
                            "checkpoint": str(spec.checkpoint),
                            "preset": getattr(spec.config, "preset", None),
                            "protocol": proto_info,
                            "duration": duration,
                            "generation_time_s": dt / nb,
                            "batch_size": nb,
                            "device": str(dev),
                            "postprocess": POSTPROCESS,
                            "s2w_version": __version__,
                        }
                    )
                    if spec.kind == "scene2wav":
                        side["sampler"] = (
                            "s2w_models.sampler (folded weight norm, incremental tiers, Gumbel-max)"
                        )
                    atomic_write_json(run / cond / f"{sid}.json", side)
                    result.generated[cond] += 1
                    if video:
                        _write_scene(run, sid, ds[i]["frames"].numpy(), fps, duration, wav, sr, cond, result)
        finally:
            bar.close()
        result.seconds[cond] = t_model
        done = result.generated[cond]
        result.rtf[cond] = t_model / (done * duration) if done else None
        if video:  # videos of clips generated earlier whose mp4 is missing (e.g. an interrupted run)
            for i, sid in zip(chosen, ids, strict=True):
                wav = run / cond / f"{sid}.wav"
                if wav.exists() and not (run / "scenes" / cond / f"{sid}.mp4").exists():
                    _write_scene(run, sid, ds[i]["frames"].numpy(), fps, duration, wav, sr, cond, result)
        del gen

    atomic_write_json(
        run / "generation.json",
        {
            "data": str(data_dir),
            "split": split,
            "n": n,
            "selected": len(ids),
            "n_samples": n_samples,
            "duration": duration,
            "sample_rate": sr,
            "temperature": temperature,
            "top_k": top_k,
            "batch_size": batch_size,
            "device": str(dev),
            "precision": precision,
            "postprocess": POSTPROCESS,
            "models": {
                s.kind: {
                    "checkpoint": str(s.checkpoint),
                    "sha256": s.sha256,
                    "preset": getattr(s.config, "preset", None),
                }
                for s in specs
            },
            "generated": result.generated,
            "skipped": result.skipped,
            "seconds": result.seconds,
            "real_time_factor": result.rtf,
            "problems": [p.format() for p in result.problems],
            "provenance": provenance(
                command="s2w-models generate",
                seeds={"selection": sel_seed, "generation": gen_seed},
                protocol=proto.provenance() if proto else None,
            ),
        },
    )
    return result


def _write_scene(
    run: Path,
    sid: str,
    frames_hsv: np.ndarray,
    fps: float,
    duration: float,
    wav: Path,
    sr: int,
    cond: str | None,
    result: GenerateResult,
) -> None:
    """scenes/<sid>.mp4 (cond None: the real audio) or scenes/<cond>/<sid>.mp4; a failure is a problem.

    The soundtrack is read back from `wav`, never taken from the float samples in memory: the video carries
    the audio that is scored (16-bit, as written), and a video re-made on resume is byte-identical."""
    from s2w_eval.io.audio import load_audio
    from s2w_eval.io.video import write_video

    path = run / "scenes" / (f"{sid}.mp4" if cond is None else f"{cond}/{sid}.mp4")
    n_frames = max(1, min(len(frames_hsv), int(round(duration * fps))))
    try:
        audio = load_audio(wav, sr)[0]
        write_video(path, _hsv_to_rgb_uint8(frames_hsv[:n_frames]), fps, audio=audio, sample_rate=sr)
    except Exception as exc:  # noqa: BLE001 - a video is an extra: report it, keep the audio
        result.problems.append(
            Problem(str(path), f"could not write the scene video ({type(exc).__name__}: {exc})")
        )
