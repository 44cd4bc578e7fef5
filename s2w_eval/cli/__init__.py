"""`s2w-eval`: score runs, build and aggregate listening surveys, render reports.

Thin wrappers: each sub-command lives in its own module (registered below) and calls library functions.
"""

from __future__ import annotations

import click

from .. import __version__
from ..clikit import LazyGroup, main_factory

COMMANDS = {
    "pam": "s2w_eval.cli.pam:pam",
    "chords": "s2w_eval.cli.chords:chords",
    "dist": "s2w_eval.cli.dist:dist",
    "calibrate": "s2w_eval.cli.calibrate:calibrate",
    "survey": "s2w_eval.cli.survey:survey",
    "protocol": "s2w_eval.cli.protocol:protocol",
    "report": "s2w_eval.cli.report:report",
    "run": "s2w_eval.cli.run:run",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s2w-eval")
def cli() -> None:
    """Evaluate emotional scene musicalization: perceptual distance, chord emotion, listening surveys."""


main = main_factory(cli)
