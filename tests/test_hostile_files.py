"""Broken CSV and YAML inputs: each a named problem (file, line, fix), never silently accepted."""

from __future__ import annotations

import time

import pytest

from s2w_eval.errors import UsageError
from s2w_eval.io.runs import read_samples_csv
from s2w_eval.protocols import load_protocol, validate_protocol_file

from .test_data_prepare import make_movie


def test_samples_csv_rows_with_the_wrong_number_of_fields(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text(
        "sample,emotion,valence\n"
        "a,positive,0.5\n"
        "b,negative\n"  # one short
        "c,positive,0.1,extra\n"  # one too many
        '"d,1",negative,-0.2\n'  # quoted comma: fine
        "e,positive,0.3,\n"  # trailing comma: a fourth (empty) field
    )
    samples, problems = read_samples_csv(path)
    assert [s.id for s in samples] == ["a", "d,1"]
    text = [p.format() for p in problems]
    assert any("line 3: 2 field(s), the header has 3" in t for t in text), text
    assert any("line 4: 4 field(s), the header has 3" in t for t in text), text
    assert any("line 6: 4 field(s)" in t for t in text), text
    assert all(p.fix for p in problems)


BILLION_LAUGHS = """name: laughs
version: 1
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_yaml_aliases_are_refused_at_once(tmp_path):
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)
    t0 = time.perf_counter()
    problems = validate_protocol_file(path)
    with pytest.raises(UsageError, match="aliases") as err:
        load_protocol(path)
    assert time.perf_counter() - t0 < 5  # expanding it takes minutes and gigabytes
    assert len(problems) == 1 and "line 4" in problems[0] and "YAML aliases" in problems[0], problems
    assert str(path) in err.value.format()
    # a single harmless alias is refused too: a protocol never needs one
    path.write_text("name: x\nversion: 1\nduration: &d 3\nseed: *d\n")
    assert "YAML aliases" in validate_protocol_file(path)[0]


def _clips(tmp_path, lines: str):
    make_movie(tmp_path / "clips" / "a", seconds=7.0)
    (tmp_path / "clips" / "clips.csv").write_text("file,start,end,valence,split\n" + lines)
    from s2w_models.data.prepare import prepare

    return prepare(tmp_path / "clips", tmp_path / "out", progress=False)


def test_clips_csv_unknown_split_is_named(tmp_path):
    res = _clips(tmp_path, "a/video.mp4,0,6,0.3,tset\n")
    assert len(res.problems) == 1 and res.rows == []
    p = res.problems[0]
    assert "line 2: unknown split 'tset'" in p.message and "did you mean 'test'" in p.message
    assert p.path.endswith("clips.csv") and "train, val or test" in p.fix


def test_clips_csv_duplicate_rows_are_named(tmp_path):
    res = _clips(tmp_path, "a/video.mp4,0,3,0.3,train\na/video.mp4,0,3,0.3,train\n")
    assert len(res.problems) == 1 and "line 3: repeats the splice at 0 s" in res.problems[0].message
    assert "line 2" in res.problems[0].message


def test_clips_csv_files_sharing_a_name_are_named(tmp_path):
    make_movie(tmp_path / "clips" / "b", seconds=7.0)
    res = _clips(tmp_path, "a/video.mp4,0,3,0.3,train\nb/video.mp4,0,3,-0.3,test\n")
    assert len(res.problems) == 1 and "same name 'video'" in res.problems[0].message
    assert len(res.rows) == 1  # the first file is still prepared
