"""One set of conventions for every command of `s2w-eval` and `s2w-models`, checked by walking both groups.

Every command (subgroups included) is found by click introspection, so a new command is checked without being
listed here: `--help` exits 0; `-o` is `--out`, `-q` is `--quiet`, `--format` has the shared choices; an unknown
option is a usage error (exit 2, no traceback); `--version` works. `--format json` is run on the cheap
commands that print tables and must give one valid JSON document on stdout.
"""

from __future__ import annotations

import json

import click
import pytest

from s2w_eval.cli import cli as eval_cli
from s2w_eval.clikit import TABLE_FORMATS, run_main
from s2w_models.cli import cli as models_cli
from tests.conftest import make_run

GROUPS = {"s2w-eval": eval_cli, "s2w-models": models_cli}

#: commands whose --format is not a console table format, and why
FORMAT_EXCEPTIONS = {
    ("s2w-eval", "report"): "names the report files written (html, md, tex), it prints no table",
}


def walk(group: click.Group, path: tuple[str, ...] = ()):
    """(path, command) for every leaf command below `group`, lazily registered ones included."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, f"{' '.join(path + (name,))} is listed but cannot be loaded"
        if isinstance(cmd, click.Group):
            yield from walk(cmd, path + (name,))
        else:
            yield path + (name,), cmd


COMMANDS = [(prog, path, cmd) for prog, group in GROUPS.items() for path, cmd in walk(group)]
IDS = [" ".join((prog, *path)) for prog, path, _ in COMMANDS]


def options(cmd: click.Command) -> dict[str, click.Option]:
    """Every spelling of every option of `cmd` (hidden ones too) -> the option."""
    out = {}
    for p in cmd.params:
        if isinstance(p, click.Option):
            for spelling in p.opts + p.secondary_opts:
                out[spelling] = p
    return out


def test_the_walk_finds_every_group_and_subgroup():
    names = set(IDS)
    for expected in (
        "s2w-eval pam",
        "s2w-eval survey aggregate",
        "s2w-eval protocol list",
        "s2w-models train",
    ):
        assert expected in names
    assert any(n.startswith("s2w-models data ") for n in names)
    assert len(names) >= 20


@pytest.mark.parametrize(("prog", "path", "cmd"), COMMANDS, ids=IDS)
def test_option_conventions(prog, path, cmd):
    opts = options(cmd)
    where = " ".join((prog, *path))
    if "--out" in opts:
        assert "-o" in opts and opts["-o"] is opts["--out"], f"{where}: --out without -o"
    assert "-o" not in opts or "--out" in opts, f"{where}: -o means something other than --out"
    if "--quiet" in opts:
        assert "-q" in opts and opts["-q"] is opts["--quiet"], f"{where}: --quiet without -q"
    assert "-q" not in opts or "--quiet" in opts, f"{where}: -q means something other than --quiet"
    assert "--no-progress" not in opts or opts["--no-progress"].hidden, f"{where}: --no-progress is -q now"
    if "--format" in opts and (prog, " ".join(path)) not in FORMAT_EXCEPTIONS:
        fmt = opts["--format"]
        assert isinstance(fmt.type, click.Choice), f"{where}: --format without fixed choices"
        assert tuple(fmt.type.choices) == TABLE_FORMATS, f"{where}: --format choices {fmt.type.choices}"


@pytest.mark.parametrize(("prog", "path", "cmd"), COMMANDS, ids=IDS)
def test_help_and_usage_error(prog, path, cmd, capsys):
    group = GROUPS[prog]
    assert run_main(group, [*path, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out
    assert run_main(group, [*path, "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert "No such option" in err and "Traceback" not in err


@pytest.mark.parametrize("prog", GROUPS)
def test_version(prog, capsys):
    from s2w_eval import __version__

    assert run_main(GROUPS[prog], ["--version"]) == 0
    out = capsys.readouterr().out
    assert prog in out and __version__ in out


def _json(group, args, capsys) -> object:
    code = run_main(group, args)
    cap = capsys.readouterr()
    assert code == 0, cap.err
    return json.loads(cap.out)


def test_protocol_list_json(capsys):
    doc = _json(eval_cli, ["protocol", "list", "--format", "json"], capsys)
    assert {r["name"] for r in doc["rows"]} >= {"cognimuse-3s", "cognimuse-10s"}


def test_describe_json(capsys):
    doc = _json(models_cli, ["describe", "--preset", "small", "--format", "json"], capsys)
    assert doc["headers"] == ["network", "parameters", "input", "output"] and doc["rows"]


def test_pam_dpam_json(tmp_path, capsys):
    run = make_run(tmp_path / "run", {"a": "positive", "b": "negative"}, seconds=0.3)
    args = ["pam", str(run), "--metric", "dpam", "-o", str(tmp_path / "rep"), "-q", "--format", "json"]
    doc = _json(eval_cli, args, capsys)
    assert doc["task"] == "pam" and doc["results"][0]["summary"]


def test_chords_json(tmp_path, capsys):
    run = make_run(tmp_path / "run", {"a": "positive"}, conditions=("target", "model"), seconds=1.0)
    doc = _json(eval_cli, ["chords", str(run), "-o", str(tmp_path / "rep"), "-q", "--format", "json"], capsys)
    assert doc["task"] == "chords" and doc["results"]


def test_survey_simulate_power_and_aggregate_json(tmp_path, capsys):
    from s2w_eval.survey.build import build_survey
    from tests.test_survey_build import make_run as survey_run
    from tests.test_survey_build import small_design

    res = build_survey(survey_run(tmp_path / "run"), small_design(raters=6), seed=1, out=tmp_path / "s")
    prefer = ["--prefer", "scene2wav>baseline:0.8"]
    power = ["survey", "simulate", str(res.out), *prefer, "--power", "3", "-q", "--format", "json"]
    doc = _json(eval_cli, power, capsys)
    assert doc["rows"] and "power (alpha 0.05)" in doc["headers"]
    assert (
        run_main(eval_cli, ["survey", "simulate", str(res.out), *prefer, "-o", str(tmp_path / "r.csv")]) == 0
    )
    capsys.readouterr()
    agg = ["survey", "aggregate", str(tmp_path / "r.csv"), "--key", str(res.out / "answer_key.csv")]
    code = run_main(
        eval_cli, [*agg, "-o", str(tmp_path / "agg"), "--no-plots", "--resamples", "100", "--format", "json"]
    )
    cap = capsys.readouterr()
    assert code in (0, 1), cap.err  # 1: a simulated careless rater may be named as a problem
    doc = json.loads(cap.out)
    assert doc["tables"] and all("rows" in t for t in doc["tables"])


@pytest.mark.parametrize(
    ("prog", "module", "words", "expected"),
    [
        ("s2w-eval", "s2w_eval.cli", "s2w-eval surv", "survey"),
        ("s2w-models", "s2w_models.cli", "s2w-models data ", "prepare"),
    ],
)
def test_shell_completion_as_documented(prog, module, words, expected):
    """docs/cli.md's `_S2W_EVAL_COMPLETE=...` variables reach click's completion through the console scripts'
    entry point (run_main), without running a command."""
    import os
    import subprocess
    import sys

    var = f"_{prog.replace('-', '_').upper()}_COMPLETE"
    env = dict(
        os.environ,
        **{
            var: "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        },
    )
    code = f"import sys; sys.argv = [{prog!r}]; from {module} import main; main()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"plain,{expected}" in done.stdout.splitlines()


@pytest.mark.parametrize("command", ["pam", "chords", "dist", "calibrate"])
def test_every_scoring_command_refuses_protocol_with_long(command, tmp_path, capsys):
    """One rule, one refusal: --protocol and --long name two protocols; no scoring command picks one silently."""
    run = make_run(tmp_path / "runs" / "r", {"P1": "positive", "N1": "negative"}, seconds=0.4)
    out = tmp_path / "rep"
    args = [command, str(run), "--protocol", "quickstart", "--long", "-o", str(out), "-q"]
    assert run_main(eval_cli, args) == 2
    assert "give either --protocol or --long, not both" in capsys.readouterr().err
    assert not out.exists()  # refused before any work
