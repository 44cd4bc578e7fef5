"""`s2w-models generate`: generate a run (docs/generation.md) with Scene2Wav and/or the baseline."""

from __future__ import annotations

from pathlib import Path

import click

from s2w_eval.clikit import in_cli_words, parse_list, report_problems
from s2w_eval.errors import EXIT_OK


@click.command()
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A scene2wav or baseline checkpoint; repeat the option for each model.",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="A prepared dataset folder (`s2w-models data prepare`).",
)
@click.option(
    "-o", "--out", "out_run", required=True, type=click.Path(path_type=Path), help="The run folder to write."
)
@click.option(
    "--protocol",
    default=None,
    help="Protocol name or YAML file: clip duration, sample rate and default seeds.",
)
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test", show_default=True)
@click.option(
    "--n",
    "n",
    type=click.IntRange(1, None),
    default=None,
    help="Number of scenes, balanced by emotion and drawn with the seed (default: the whole split).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0.0, None),
    default=1.0,
    show_default=True,
    help="Sampling temperature of Scene2Wav (1 = the model's distribution, 0 = greedy).",
)
@click.option(
    "--top-k",
    type=click.IntRange(0, None),
    default=0,
    show_default=True,
    help="Sample Scene2Wav's codes among the k most likely only (0 = all).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Selection and generation seed (default: the protocol's seeds, else 0).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=32,
    show_default=True,
    help="Clips generated together.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option(
    "--models",
    "models",
    default=None,
    help="Comma-separated models to run among the checkpoints given: scene2wav,baseline (default: all).",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    show_default=True,
    help="Scene2Wav sampler arithmetic: fp32 is exact; bf16 is faster on CPUs with AVX512-BF16/AMX and GPUs.",
)
@click.option("--no-video", is_flag=True, help="Do not write the scene videos under scenes/.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def generate(
    checkpoints,
    data_dir,
    out_run,
    protocol,
    split,
    n,
    temperature,
    top_k,
    seed,
    batch_size,
    device,
    models,
    precision,
    no_video,
    quiet,
):
    """Generate audio for the scenes of a split and write a run that `s2w-eval` scores.

    The run holds samples.csv, target/ (the real audio), one folder per model of 16 kHz WAVs with JSON
    sidecars, and scenes/ (the scene video with each condition's audio). Rerunning the same command skips
    every clip already generated with the same checkpoint, seed and sampling settings.
    """
    from .generate import MODELS, generate_run

    chosen = parse_list(models, MODELS, "model")
    with in_cli_words({"checkpoints": "checkpoint", "data_dir": "data", "out_run": "out"}):
        res = generate_run(
            list(checkpoints),
            data_dir,
            out_run,
            split=split,
            n=n,
            seed=seed,
            protocol=protocol,
            temperature=temperature,
            top_k=top_k or None,
            batch_size=batch_size,
            device=device,
            models=chosen,
            video=not no_video,
            progress=not quiet,
            precision=precision,
        )
    for cond in res.generated:
        rtf = res.rtf.get(cond)
        speed = f", real-time factor {rtf:.2f}" if rtf is not None else ""
        click.echo(
            f"{cond}: {res.generated[cond]} generated, {res.skipped[cond]} already done{speed}", err=True
        )
    click.echo(str(res.run))
    code = report_problems(res.problems)
    return code if code else EXIT_OK
