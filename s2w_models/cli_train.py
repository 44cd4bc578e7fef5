"""`s2w-models train` and `s2w-models describe`: thin wrappers over s2w_models.train and the networks."""

from __future__ import annotations

import click

from s2w_eval.clikit import format_option, in_cli_words
from s2w_eval.errors import UsageError

STAGE_CHOICES = ("cnn", "encoder", "scene2wav", "all")


def _fmt_table(rows, headers, fmt):
    from s2w_eval.clikit import render_rows

    return render_rows(rows, headers, fmt)


@click.command("train")
@click.argument("stage", type=click.Choice(STAGE_CHOICES))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="prepared dataset folder (s2w-models data prepare); uses its train and val splits",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="output folder; each stage writes <out>/<stage>/ (last.pt, best.pt, steps.csv, epochs.csv)",
)
@click.option(
    "--preset",
    default="paper",
    show_default=True,
    type=click.Choice(["paper", "small", "tiny"]),
    help="paper: the published sizes and optimisers; small: the learning recipe's size (trains on the "
    "synthetic set in about 10 minutes on 2 CPU cores; docs/models.md says what it learns); tiny: seconds, for tests (cannot continue a chord)",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.FIELD=VALUE",
    help="override a setting, e.g. --set samplernn.conditioning=gates (repeatable; see docs/models.md)",
)
@click.option("--resume", is_flag=True, help="continue from <out>/<stage>/last.pt bit-for-bit")
@click.option(
    "--init",
    default=None,
    metavar="CKPT|random",
    help="start a single stage from this checkpoint instead of the previous stage's best.pt",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N")
@click.option("--bf16", is_flag=True, help="bf16 autocast (GPU)")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--no-progress", is_flag=True, hidden=True, help="Old name of --quiet.")
@format_option
def train(stage, data_dir, out_dir, preset, overrides, resume, init, device, bf16, quiet, no_progress, fmt):
    """Train STAGE: cnn, encoder (encoder + ConvSeq2Seq baseline), scene2wav (conditional SampleRNN), or all.

    Ctrl-C finishes the batch in flight, writes <out>/<stage>/last.pt and stops; --resume continues.
    Multi-process: torchrun --nproc-per-node N -m s2w_models.cli train ...
    """
    from .train import train_stage

    if bf16 and not device.startswith("cuda"):
        raise UsageError("--bf16 needs --device cuda")
    with in_cli_words({"data_dir": "data", "out_dir": "out", "overrides": "set"}):
        out = train_stage(
            stage,
            data_dir,
            out_dir,
            preset=preset,
            overrides=list(overrides),
            resume=resume,
            device=device,
            amp=bf16,
            progress=not (quiet or no_progress),
            init=init,
        )
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    rows = []
    for name, s in out.items():
        rows.append(
            [name, s["status"], s["epochs"], s["steps"], s["best_val_loss"], s["loss_unit"], s["seconds"]]
        )
    click.echo(
        _fmt_table(rows, ["stage", "status", "epochs", "steps", "best val loss", "unit", "seconds"], fmt)
    )
    notes = {s["logging"] for s in out.values() if s.get("logging")}
    for n in notes:
        click.echo(f"note: {n}", err=fmt == "json")
    if any(s["status"] == "interrupted" for s in out.values()):
        click.echo("interrupted: checkpoint saved; rerun with --resume to continue", err=True)
        return 130
    return 0


def describe_rows(cfg, seconds: float | None = None):
    """(network, parameters, input, output) rows for one clip of `seconds` (default: the config's)."""
    import torch

    from .nets import ConvSeq2Seq, Scene2Wav

    d = cfg.data
    if seconds is not None:
        d.frames_per_clip = int(round(seconds * d.fps))
        d.audio_len = int(round(seconds * d.sample_rate))
        d.seconds = seconds
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    torch.manual_seed(0)
    s2w = Scene2Wav(cfg)
    base = ConvSeq2Seq(cfg.baseline, cfg.encoder, cfg.cnn, d.frames_per_clip, d.image_size)
    f, hw, L = d.frames_per_clip, d.image_size, d.audio_len
    frames = torch.rand(1, f, 3, hw, hw)
    s2w.eval()
    with torch.no_grad():
        logits, feats = s2w.encoder.cnn(frames[0])
        seq = s2w.encoder.sequence(frames)
        v = s2w.encoder.embed(frames)
    srnn = s2w.samplernn
    rows = [
        [
            "CNN (per frame)",
            n(s2w.encoder.cnn),
            f"({f}, 3, {hw}, {hw})",
            f"features {tuple(feats.shape)}, logits {tuple(logits.shape)}",
        ],
        [
            f"encoder ({cfg.encoder.cell}, {cfg.encoder.encoder_input})",
            n(s2w.encoder.rnn),
            f"sequence {tuple(seq.shape)}",
            f"v {tuple(v.shape)}",
        ],
        [
            f"baseline decoder (step {cfg.baseline.step})",
            n(base.decoder) + n(base.out),
            f"v {tuple(v.shape)}",
            f"({L // cfg.baseline.step} steps x {cfg.baseline.step}) -> audio (1, {L})",
        ],
    ]
    if srnn.h0_proj is not None:
        rows.append(
            [
                "v -> h0 projection",
                n(srnn.h0_proj),
                f"v {tuple(v.shape)}",
                f"h0 ({srnn.n_rnn}, 1, {srnn.dim}) for each tier",
            ]
        )
    lb = srnn.lookback
    for i in reversed(range(len(srnn.tiers))):
        t = srnn.tiers[i]
        steps = L // t.n_frame_samples
        gates = f", W_v v in gates ({t.rnn.cond_dim})" if t.rnn.cond_dim else ""
        rows.append(
            [
                f"frame tier {i} ({t.n_frame_samples} samples/step){gates}",
                n(t),
                f"({steps}, {t.n_frame_samples}) frames",
                f"({steps * t.frame_size}, {srnn.dim}) after x{t.frame_size} upsampling",
            ]
        )
    rows.append(
        [
            f"sample-level MLP ({srnn.frame_sizes[0]} codes)",
            n(srnn.mlp),
            f"codes (1, {L + srnn.frame_sizes[0] - 1}) + cond ({L}, {srnn.dim})",
            f"log-probs ({L}, {srnn.q_levels})",
        ]
    )
    total = n(srnn) - (n(srnn.h0_proj) if srnn.h0_proj is not None else 0)
    rows.append(
        [
            "SampleRNN total (without projection)",
            total,
            f"codes (1, {lb} + {L})",
            f"{L} samples; TBPTT {cfg.train.seq_len}: {-(-L // cfg.train.seq_len)} chunks",
        ]
    )
    return rows


@click.command("describe")
@click.option("--preset", default="paper", show_default=True, type=click.Choice(["paper", "small", "tiny"]))
@click.option("--set", "overrides", multiple=True, metavar="SECTION.FIELD=VALUE", help="override a setting")
@click.option("--seconds", type=float, default=3.0, show_default=True, help="clip length for the shapes")
@format_option
def describe(preset, overrides, seconds, fmt):
    """Print each network of a configuration with its parameter count and the shapes along one clip."""
    from .config import apply_overrides
    from .config import preset as get_preset

    if seconds <= 0:
        raise UsageError("--seconds must be positive")
    cfg = apply_overrides(get_preset(preset), list(overrides))
    rows = describe_rows(cfg, seconds)
    click.echo(
        err=fmt == "json",
        message=f"preset {preset}, {seconds:g} s clip at {cfg.data.sample_rate} Hz, {cfg.data.fps} frames/s, "
        f"conditioning {cfg.samplernn.conditioning}, quantisation {cfg.samplernn.quantization}",
    )
    click.echo(
        _fmt_table(
            [[a, f"{b:,}", c, d] for a, b, c, d in rows], ["network", "parameters", "input", "output"], fmt
        )
    )
    return 0
