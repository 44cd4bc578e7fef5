"""`s2w-models`: prepare data, train Scene2Wav and the baseline, generate runs.

Thin wrappers: each sub-command lives in its own module (registered below). Runs under torchrun too:
`torchrun --nproc-per-node N -m s2w_models.cli train ...`.
"""

from __future__ import annotations

import click

from s2w_eval import __version__
from s2w_eval.clikit import LazyGroup, main_factory

COMMANDS: dict[str, str] = {
    "data": "s2w_models.cli_data:data",
    "train": "s2w_models.cli_train:train",
    "describe": "s2w_models.cli_train:describe",
    "diagnose": "s2w_models.cli_diagnose:diagnose",
    "generate": "s2w_models.cli_generate:generate",
    "quickstart": "s2w_models.cli_quickstart:quickstart",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s2w-models")
def cli() -> None:
    """Prepare data, train Scene2Wav and the ConvSeq2Seq baseline, generate runs for s2w-eval."""


main = main_factory(cli)

if __name__ == "__main__":
    main()
