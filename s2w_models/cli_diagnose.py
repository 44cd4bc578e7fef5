"""`s2w-models diagnose CHECKPOINT --data DIR`: how much a trained model uses its condition (the scene)."""

from __future__ import annotations

from pathlib import Path

import click

from s2w_eval.clikit import format_option, render_rows


@click.command("diagnose")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False), required=True, help="prepared dataset folder"
)
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--clips", default=16, show_default=True, help="clips measured (balanced by emotion)")
@click.option("--seconds", default=1.0, show_default=True, help="seconds of each clip measured")
@click.option("--seed", default=0, show_default=True, help="seed of the clip selection and the shuffle")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto")
@click.option(
    "--run",
    "run_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="a generated run: write <run>/diagnostics.json there (its report carries it)",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), default=None, help="write the JSON here"
)
@format_option
def diagnose(checkpoint, data_dir, split, clips, seconds, seed, device, run_dir, json_path, fmt):
    """Validation NLL with the true vs a shuffled condition, and the KL between the output distributions for
    different scenes on the same audio context. Writes the JSON to --json, else <run>/diagnostics.json with
    --run, else diagnostics.json beside CHECKPOINT."""
    from s2w_eval.results import atomic_write_json

    from .diagnose import diagnose as run_diagnose
    from .diagnose import rows

    d = run_diagnose(checkpoint, data_dir, split, clips, seconds, seed, device)
    aside = fmt == "json"  # stdout holds the JSON document alone
    click.echo(
        err=aside,
        message=f"{d['model']} ({d['preset']}) on {d['clips']} {split} clips "
        f"({', '.join(f'{k} {v}' for k, v in d['emotions'].items())}), first {d['seconds']:g} s of each",
    )
    click.echo(render_rows(rows(d), ["measure", "value", "meaning"], fmt))
    click.echo(d["verdict"], err=aside)
    if json_path is None:
        json_path = (
            Path(run_dir) / "diagnostics.json" if run_dir else Path(checkpoint).parent / "diagnostics.json"
        )
    atomic_write_json(json_path, d)
    click.echo(f"wrote {json_path}", err=aside)
    return 0
