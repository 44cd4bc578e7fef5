"""Protocol files: the shipped ones load, the packaged copies match, every malformed field is reported."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.errors import UsageError
from s2w_eval.protocols import (
    PACKAGED_PROTOCOLS,
    REPO_PROTOCOLS,
    list_protocols,
    load_protocol,
    protocol_for,
    validate_protocol_file,
)

GOOD = textwrap.dedent("""\
    name: demo
    version: "2.1"
    description: a test protocol
    duration: 3
    sample_rate: 16000
    conditions: [target, baseline, scene2wav]
    reference: target
    metrics:
      pam:
        metrics: [cdpam, dpam]
        dpam_loader: paper2020
      chords:
        method: nnls-hmm
    survey:
      pairs:
        - [scene2wav, baseline]
        - [scene2wav, target]
      raters: 20
      scenes: {negative: 10, positive: 10}
      allow_no_preference: false
      attention_checks: 2
      min_seconds: 3
    seeds: {selection: 1, bootstrap: 2}
    """)


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_protocols_load():
    assert set(list_protocols()) >= {"cognimuse-3s", "cognimuse-10s", "quickstart"}
    for name in list_protocols():
        p = load_protocol(name)
        assert p.name == name and p.version
        assert p.reference in p.conditions
        assert len(p.sha256) == 64


def test_paper_protocols_match_the_paper():
    short, long = protocol_for(long=False), protocol_for(long=True)
    assert (short.name, short.duration, long.name, long.duration) == (
        "cognimuse-3s",
        3.0,
        "cognimuse-10s",
        10.0,
    )
    for p in (short, long):
        assert p.sample_rate == 16000
        assert p.conditions == ["target", "baseline", "scene2wav"] and p.reference == "target"
        assert p.models == ["baseline", "scene2wav"]
        assert p.metric("pam")["metrics"] == ["cdpam", "dpam"]
        assert p.metric("pam")["dpam_loader"] == "paper2020"
        assert "method" in p.metric("chords")
        assert p.survey["raters"] == 20
        assert p.survey["scenes"] == {"negative": 10, "positive": 10}
        assert p.survey["pairs"] == [
            ["scene2wav", "baseline"],
            ["scene2wav", "target"],
            ["baseline", "target"],
        ]
    assert short.samples_per_clip == 48000 and long.samples_per_clip == 160000


def test_one_copy_of_each_protocol():
    """The package's protocols are the repository's folder itself (a symlink), so they cannot drift apart."""
    assert PACKAGED_PROTOCOLS.is_symlink() and PACKAGED_PROTOCOLS.resolve() == REPO_PROTOCOLS.resolve()


def test_packaged_copy_found_without_repo_folder(monkeypatch):
    import s2w_eval.protocols as mod

    monkeypatch.setattr(mod, "REPO_PROTOCOLS", Path("/nonexistent/protocols"))
    p = mod.load_protocol("cognimuse-3s")
    assert Path(p.path).parent == PACKAGED_PROTOCOLS.resolve()


def test_load_by_path_and_fields(tmp_path):
    p = load_protocol(write(tmp_path, GOOD))
    assert p.name == "demo" and p.version == "2.1" and p.duration == 3.0
    assert p.seed("selection") == 1 and p.seed("survey", 7) == 7
    assert p.provenance()["version"] == "2.1" and p.provenance()["sha256"] == p.sha256
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.duration = 10  # type: ignore[misc]


def test_reference_defaults_to_target(tmp_path):
    text = GOOD.replace("reference: target\n", "")
    assert load_protocol(write(tmp_path, text)).reference == "target"


def test_unknown_name_suggests_closest():
    with pytest.raises(UsageError) as err:
        load_protocol("cognimuse-3x")
    assert "did you mean 'cognimuse-3s'" in str(err.value)
    with pytest.raises(UsageError, match="not found"):
        load_protocol("missing/file.yaml")


# one malformed field per case: (replace old -> new, expected fragment, expected line)
CASES = [
    ("duration: 3\n", "duraton: 3\nduration: 3\n", "unknown field 'duraton' (did you mean 'duration'?)", 4),
    ('version: "2.1"\n', "", "missing required field 'version'", None),
    ("duration: 3\n", "duration: 0\n", "must be a number > 0", 4),
    ("duration: 3\n", "duration: -3\n", "must be a number > 0", 4),
    ("duration: 3\n", "duration: three\n", "must be a number > 0", 4),
    ("sample_rate: 16000\n", "sample_rate: 16000.5\n", "positive integer", 5),
    ("conditions: [target, baseline, scene2wav]\n", "conditions: target\n", "non-empty list", 6),
    (
        "conditions: [target, baseline, scene2wav]\n",
        "conditions: [target, baseline, target]\n",
        "listed twice",
        6,
    ),
    ("reference: target\n", "reference: targte\n", "'targte' is not among the conditions", 7),
    ("  pam:\n", "  pamm:\n", "unknown metric 'pamm' (did you mean 'pam'?)", 9),
    (
        "metrics: [cdpam, dpam]",
        "metrics: [cdpam, dpamm]",
        "unknown metric 'dpamm' (did you mean 'dpam'?)",
        10,
    ),
    ("dpam_loader: paper2020", "dpam_loader: paper2021", "did you mean 'paper2020'?", 11),
    (
        "dpam_loader: paper2020",
        "dpam_lodaer: paper2020",
        "unknown pam option 'dpam_lodaer' (did you mean 'dpam_loader'?)",
        11,
    ),
    ("method: nnls-hmm", "method: 3", "detection method name", 13),
    ("method: nnls-hmm", "method: nnls-hmn", "did you mean 'nnls-hmm'?", 13),
    (
        "- [scene2wav, baseline]",
        "- [scene2wav, baselin]",
        "unknown condition 'baselin' (did you mean 'baseline'?)",
        16,
    ),
    ("- [scene2wav, baseline]", "- [scene2wav, scene2wav]", "two different conditions", 16),
    ("- [scene2wav, baseline]", "- [scene2wav]", "[first, second]", 16),
    ("raters: 20", "raters: many", "positive integer", 18),
    ("raters: 20", "rates: 20", "unknown survey field 'rates' (did you mean 'raters'?)", 18),
    ("allow_no_preference: false", "allow_no_preference: maybe", "true or false", 20),
    (
        "scenes: {negative: 10, positive: 10}",
        "scenes: {negative: 10, postive: 10}",
        "did you mean 'positive'?",
        19,
    ),
    ("seeds: {selection: 1, bootstrap: 2}", "seeds: {selection: one}", "integer >= 0", 23),
]


@pytest.mark.parametrize("old,new,fragment,line", CASES, ids=[c[2][:40] for c in CASES])
def test_each_malformed_field_is_reported(tmp_path, old, new, fragment, line):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    problems = validate_protocol_file(path)
    hits = [p for p in problems if fragment in p]
    assert hits, problems
    if line is not None:
        assert hits[0].startswith(f"line {line}:"), hits
    with pytest.raises(UsageError) as err:
        load_protocol(path)
    assert str(path) in str(err.value) and err.value.exit_code == 2


def test_all_errors_listed_at_once(tmp_path):
    text = (
        GOOD.replace("duration: 3", "duration: -1")
        .replace("reference: target", "reference: nope")
        .replace("  pam:", "  pamm:")
        .replace('version: "2.1"\n', "")
    )
    problems = validate_protocol_file(write(tmp_path, text))
    assert len(problems) == 4, problems


def test_not_yaml_and_not_mapping(tmp_path):
    assert "not valid YAML" in validate_protocol_file(write(tmp_path, "a: [1, 2\n"))[0]
    assert "mapping" in validate_protocol_file(write(tmp_path, "- 1\n- 2\n"))[0]


def test_cli_validate_and_list(tmp_path, capsys):
    good = write(tmp_path, GOOD, "good.yaml")
    assert run_main(cli, ["protocol", "validate", str(good), "quickstart"]) == 0
    assert "ok (demo version 2.1" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("duration: 3", "duraton: 3"), "bad.yaml")
    assert run_main(cli, ["protocol", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "did you mean 'duration'?" in err and "line 4" in err
    assert "Traceback" not in err
    assert run_main(cli, ["protocol", "validate", "cognimuse-3x"]) == 2
    assert "did you mean 'cognimuse-3s'" in capsys.readouterr().err
    assert run_main(cli, ["protocol", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("cognimuse-3s", "cognimuse-10s", "quickstart"):
        assert name in out
    assert "1.1" in out  # the versions are listed
