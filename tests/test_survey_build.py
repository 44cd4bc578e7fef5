"""survey build: files, counterbalancing, attention checks, determinism, escaping of hostile sample ids."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.errors import UsageError
from s2w_eval.io.audio import load_audio, write_wav
from s2w_eval.survey.build import build_survey, check_base_url
from s2w_eval.survey.design import SurveyDesign, load_design, parse_pairs
from s2w_eval.survey.preview import fill_template

from .conftest import TEST_DATA

HOSTILE = [
    '"><img src=x onerror=alert(1)>',
    "<script>alert(1)",
    '=HYPERLINK("http:evil","x")',
    "@SUM(A1)",
    "+1-2",
    "-3",
]
SAFE = ["N1", "N2", "N3", "P1", "P2", "P3"]
CONDITIONS = ("target", "baseline", "scene2wav")
DATA = TEST_DATA


def make_run(
    root: Path, ids=None, emotions=None, seconds: float = 0.4, sr: int = 8000, conditions=CONDITIONS
) -> Path:
    """A tiny run: short sine tones, one folder per condition, samples.csv (ids may be hostile)."""
    ids = list(ids or SAFE + HOSTILE)
    emotions = list(emotions or ["negative" if i % 2 else "positive" for i in range(len(ids))])
    root.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sample", "emotion"])
    w.writerows(zip(ids, emotions))
    (root / "samples.csv").write_text(buf.getvalue(), encoding="utf-8")
    t = np.arange(int(seconds * sr)) / sr
    for ci, cond in enumerate(conditions):
        for k, sid in enumerate(ids):
            write_wav(root / cond / f"{sid}.wav", 0.3 * np.sin(2 * np.pi * (200 + 40 * k + 25 * ci) * t), sr)
    return root


def small_design(**kw) -> SurveyDesign:
    base = dict(
        raters=5,
        scenes={"negative": 10, "positive": 10},
        attention_checks=2,
        min_seconds=2.0,
        allow_no_preference=True,
        protocol_name="test",
        protocol_version="1",
    )
    base.update(kw)
    return SurveyDesign(**base)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("survey")
    run = make_run(tmp / "run")
    res = build_survey(run, small_design(), seed=7, out=tmp / "s")
    return run, res


def test_build_writes_the_batch_page_key_and_manifest(built):
    run, res = built
    out = res.out
    assert res.problems == []
    batch = read_csv(out / "batch.csv")
    key = read_csv(out / "answer_key.csv")
    page = (out / "hit.html").read_text(encoding="utf-8")
    manifest = json.loads((out / "manifest.json").read_text())
    n_samples = len(SAFE + HOSTILE)
    assert len(batch) == n_samples == manifest["counts"]["tasks"]
    n_items = 3 + 2
    assert len(key) == n_samples * n_items
    # the batch columns are exactly the page's placeholders (plus task_id and the batch id, not shown)
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", page))
    assert placeholders == {f"pair{i}_{s}" for i in range(1, n_items + 1) for s in "ab"}
    assert set(batch[0]) == placeholders | {"task_id", "batch"}
    assert {r["batch"] for r in batch} == {manifest["batch_id"]}
    # layout.html is the Requester-UI fragment: no form, no submit button, the same placeholders; hit.html
    # is that fragment inside MTurk's form
    layout = (out / "layout.html").read_text(encoding="utf-8")
    assert "<form" not in layout and 'type="submit"' not in layout and "<html" not in layout
    assert set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", layout)) == placeholders
    assert layout in page and page.count("<form") == 1 and 'id="submitButton"' in page
    # quality control on the page: consent, the headphone check, the practice pair, play counts and times
    assert 'name="consent"' in layout and "Payment" in layout
    trials = manifest["headphone_check"]["trials"]
    assert len(trials) == 6 and manifest["headphone_check"]["pass"] == 5
    assert all(f'name="hp{k}" value="{v}"' in layout for k in range(1, 7) for v in "123")
    assert 'name="practice"' in layout and manifest["practice"]["a_clip"] in layout
    for i in range(1, n_items + 1):
        for f in ("plays_a", "plays_b", "ms"):
            assert f'name="pair{i}_{f}"' in layout
    # every field a rater answers is named pair<i>, with A/B (and none when allowed)
    assert set(re.findall(r'name="(pair\d+)" value="(\w+)"', page)) == {
        (f"pair{i}", v) for i in range(1, n_items + 1) for v in ("A", "B", "none")
    }
    # what raters see reveals neither the answer key, nor sample ids, nor condition names
    visible = page + (out / "batch.csv").read_text(encoding="utf-8")
    assert "answer_key" not in visible and "manifest" not in visible
    for word in list(CONDITIONS) + SAFE:
        assert word not in visible.replace("Which clip", "")
    for row in batch:
        for col, url in row.items():
            if col not in ("task_id", "batch"):
                assert re.fullmatch(r"media/c[0-9a-f]{16}\.wav", url)
                assert (out / url).is_file()
    # manifest: hashes of every clip, counts, design, provenance
    files = {c["file"] for c in manifest["clips"]}
    assert files == {f"media/{p.name}" for p in (out / "media").iterdir()}
    import hashlib

    for c in manifest["clips"]:
        assert hashlib.sha256((out / c["file"]).read_bytes()).hexdigest() == c["sha256"]
    assert manifest["counts"]["assignments_per_task"] == 5
    assert manifest["seed"] == 7 and manifest["provenance"]["s2w_version"]
    assert (
        manifest["files"]["answer_key.csv"]
        == hashlib.sha256((out / "answer_key.csv").read_bytes()).hexdigest()
    )


def test_ab_order_is_counterbalanced_per_pair_and_checks_are_placed(built):
    _, res = built
    key = read_csv(res.out / "answer_key.csv")
    for pair in (("scene2wav", "baseline"), ("scene2wav", "target"), ("baseline", "target")):
        sides = [r["first_side"] for r in key if r["kind"] == "pair" and (r["first"], r["second"]) == pair]
        assert len(sides) == len(SAFE + HOSTILE)
        assert abs(sides.count("A") - sides.count("B")) <= 1
    by_task: dict[str, list[dict[str, str]]] = {}
    for r in key:
        by_task.setdefault(r["task_id"], []).append(r)
    for rows in by_task.values():
        kinds = sorted(r["kind"] for r in rows)
        assert kinds == ["defect", "pair", "pair", "pair", "repeat"]
        rep = next(r for r in rows if r["kind"] == "repeat")
        orig = next(r for r in rows if r["item"] == rep["repeat_of"])
        assert orig["kind"] == "pair" and (orig["first"], orig["second"]) == (rep["first"], rep["second"])
        assert (rep["a_clip"], rep["b_clip"]) == (orig["b_clip"], orig["a_clip"])  # swapped sides
        assert abs(int(rep["item"]) - int(orig["item"])) > 1
        d = next(r for r in rows if r["kind"] == "defect")
        clean = d["a_clip"] if d["expected"] == "A" else d["b_clip"]
        noisy = d["b_clip"] if d["expected"] == "A" else d["a_clip"]
        assert d[f"{d['expected'].lower()}_condition"] == d["first"]
        x, _ = load_audio(res.out / "media" / clean)
        y, _ = load_audio(res.out / "media" / noisy)
        mid = slice(len(x) // 2 - 200, len(x) // 2 + 200)

        def rms(v):
            return float(np.sqrt(np.mean(np.square(v))))

        # loudness-matched: the defect clip is as loud as the clean one (within 0.5 dB) ...
        assert abs(20 * np.log10(rms(y) / rms(x))) < 0.5
        # ... but the middle is white noise (its sample-to-sample differences are as large as the signal)
        assert rms(np.diff(y[mid])) > 1.0 * rms(y[mid]) and rms(np.diff(x[mid])) < 0.7 * rms(x[mid])
        scale = rms(y) / rms(x)  # the same clip elsewhere (up to the loudness matching)
        assert np.allclose(x[:100] * scale, y[:100], atol=2e-3)


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    run = make_run(tmp_path / "run", ids=SAFE)
    outs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        build_survey(run, small_design(), seed=seed, out=tmp_path / name)
        outs.append(
            {
                p.relative_to(tmp_path / name).as_posix(): p.read_bytes()
                for p in sorted((tmp_path / name).rglob("*"))
                if p.is_file()
            }
        )
    assert outs[0] == outs[1]
    assert outs[0]["answer_key.csv"] != outs[2]["answer_key.csv"]
    # a rebuild into the same folder with another seed leaves no stale clip behind
    build_survey(run, small_design(), seed=4, out=tmp_path / "a")
    assert {p.name for p in (tmp_path / "a" / "media").iterdir()} == {
        p.name for p in (tmp_path / "c" / "media").iterdir()
    }


def test_hostile_sample_ids_are_neutralised_everywhere(built):
    _, res = built
    out = res.out
    texts = {
        name: (out / name).read_text(encoding="utf-8") for name in ("batch.csv", "hit.html", "answer_key.csv")
    }
    for text in (texts["hit.html"], texts["batch.csv"]):
        assert "<script>alert" not in text and "onerror" not in text
    for name in ("batch.csv", "answer_key.csv"):
        for row in csv.reader(io.StringIO(texts[name])):
            for cell in row:  # a plain negative number is harmless and stays a number
                assert not cell.startswith(("=", "+", "@", "-")) or re.fullmatch(r"-\d+", cell), (name, cell)
    key = read_csv(out / "answer_key.csv")
    assert '\'=HYPERLINK("http:evil","x")' in {r["sample"] for r in key}
    # preview fills placeholders escaped; a hostile value cannot leave its attribute
    page = fill_template('<div data-src="${x}"></div>', {"x": '"><script>alert(1)</script>'})
    assert "<script>" not in page and "&quot;&gt;&lt;script&gt;" in page
    with pytest.raises(UsageError):
        check_base_url('https://example.org/"><script>alert(1)</script>')
    with pytest.raises(UsageError):
        check_base_url("javascript:alert(1)")
    assert check_base_url("https://example.org/s") == "https://example.org/s/"


def test_base_url_prefixes_media_urls(tmp_path):
    run = make_run(tmp_path / "run", ids=SAFE[:2], emotions=["negative", "positive"])
    res = build_survey(
        run, small_design(attention_checks=0), base_url="https://cdn.example.org/x", out=tmp_path / "s"
    )
    batch = read_csv(res.out / "batch.csv")
    assert all(
        v.startswith("https://cdn.example.org/x/media/c")
        for r in batch
        for k, v in r.items()
        if k not in ("task_id", "batch")
    )
    assert res.manifest["counts"]["items_per_task"] == 3
    assert 'value="none"' in (res.out / "hit.html").read_text()
    res2 = build_survey(run, small_design(attention_checks=0, allow_no_preference=False), out=tmp_path / "s2")
    assert 'value="none"' not in (res2.out / "hit.html").read_text()


def test_selection_follows_the_protocol_scene_counts(tmp_path):
    run = make_run(tmp_path / "run", ids=SAFE)
    res = build_survey(run, small_design(scenes={"negative": 2, "positive": 1}), seed=1, out=tmp_path / "s")
    assert res.manifest["counts"]["scenes_used"] == {"positive": 1, "negative": 2}
    res = build_survey(run, small_design(scenes={"negative": 5, "positive": 1}), seed=1, out=tmp_path / "s")
    assert any("5 negative" in n for n in res.notes)


def test_protocol_design_and_pairs_parsing():
    design, proto = load_design("cognimuse-3s")
    assert design.pairs == (("scene2wav", "baseline"), ("scene2wav", "target"), ("baseline", "target"))
    assert design.raters == proto.survey["raters"] == 20
    assert parse_pairs("scene2wav:baseline, baseline:target") == (
        ("scene2wav", "baseline"),
        ("baseline", "target"),
    )
    for bad in ("scene2wav", "a:a", "a:b,b:a", ""):
        with pytest.raises(UsageError):
            parse_pairs(bad)


def test_cli_build_exit_codes(tmp_path):
    run = make_run(tmp_path / "run", ids=SAFE)
    runner = CliRunner()
    r = runner.invoke(
        cli,
        [
            "survey",
            "build",
            str(run),
            "--out",
            str(tmp_path / "s"),
            "--raters",
            "3",
            "--protocol",
            "quickstart",
        ],
        standalone_mode=False,
    )
    assert r.exception is None and r.return_value == 0, r.output
    assert "3 rater(s) per task" in r.output
    # a pair naming a condition the run lacks: usage error, exit 2, no traceback
    assert (
        run_main(
            cli, ["survey", "build", str(run), "--pairs", "scene2wav:basline", "--out", str(tmp_path / "t")]
        )
        == 2
    )
    # a sample missing a clip is reported (exit 1) and left out, the rest is built
    (run / "baseline" / "N1.wav").unlink()
    assert (
        run_main(cli, ["survey", "build", str(run), "--out", str(tmp_path / "u"), "--protocol", "quickstart"])
        == 1
    )
    key = read_csv(tmp_path / "u" / "answer_key.csv")
    assert "N1" not in {r["sample"] for r in key} and len({r["sample"] for r in key}) == 4


def test_build_on_published_scene2wav_samples(tmp_path):
    run = DATA / "scene2wav-samples" / "cognimuse-3s"
    if not run.is_dir():
        pytest.skip(f"real data not found at {run} (set S2W_TEST_DATA to the real test data folder)")
    res = build_survey(run, small_design(), seed=0, out=tmp_path / "s", media="audio")
    assert res.manifest["counts"]["tasks"] == 10
    for c in res.manifest["clips"]:
        x, sr = load_audio(res.out / c["file"])
        if "defect" not in c["condition"] and c["condition"] != "headphone-check":
            assert abs(float(np.mean(x))) < 1e-3  # the published DC offset is removed
            assert np.sqrt(np.mean(x**2)) == pytest.approx(0.1, rel=0.05) or np.max(np.abs(x)) > 0.85


def test_plain_http_base_url_warns_but_builds(tmp_path, capsys):
    from s2w_eval.survey.build import PlainHttpWarning

    run = make_run(tmp_path / "run", ids=SAFE[:2], emotions=["negative", "positive"])
    with pytest.warns(PlainHttpWarning, match="mixed content"):
        check_base_url("http://example.org/s")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", PlainHttpWarning)
        assert check_base_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/"  # a local test server
    code = run_main(
        cli,
        ["survey", "build", str(run), "--base-url", "http://example.org/s", "--out", str(tmp_path / "s")],
    )
    assert code == 0
    assert "warning: media URL http://example.org/s/ is plain http" in capsys.readouterr().err


def test_video_mode_muxes_each_condition_and_the_check_is_a_video(tmp_path):
    """--media video on a run that has only the scene video: s2w muxes every condition's audio with it."""
    from s2w_eval.io.video import probe_video, read_audio_track, write_video

    run = make_run(tmp_path / "run", ids=["N1", "P1"], emotions=["negative", "positive"], seconds=0.5)
    frames = np.zeros((5, 32, 48, 3), dtype=np.uint8)
    for sid in ("N1", "P1"):
        write_video(run / "scenes" / f"{sid}.mp4", frames + 60, 10)
    res = build_survey(run, small_design(headphone_trials=0), media="video", out=tmp_path / "s", seed=1)
    assert res.problems == [] and res.manifest["media"] == "video"
    key = read_csv(res.out / "answer_key.csv")
    clips = {r[c] for r in key for c in ("a_clip", "b_clip")}
    assert all(c.endswith(".mp4") for c in clips)  # the noise-burst check too: no side is audio-only
    defect = next(r for r in key if r["kind"] == "defect")
    levels = {}
    for side in ("a", "b"):
        path = res.out / "media" / defect[f"{side}_clip"]
        info = probe_video(path)
        assert info.has_audio and info.width == 48 and abs(info.duration - 0.5) < 0.15
        x = read_audio_track(path, sample_rate=8000)
        levels[side] = float(np.sqrt(np.mean(np.square(x))))
    # the check is as loud as the music (AAC may move the level a little)
    assert abs(20 * np.log10(levels["a"] / levels["b"])) < 1.0
    page = (res.out / "layout.html").read_text()
    assert "film scenes" in page


def test_protocol_survey_block_sets_page_text_payment_and_quality_control(tmp_path):
    from s2w_eval.survey.design import load_design

    proto = tmp_path / "p.yaml"
    text = (
        Path(__file__).resolve().parents[1].joinpath("s2w_eval", "_protocols", "quickstart.yaml").read_text()
    )
    text = text.replace(
        "survey:\n",
        "survey:\n  reward: 0.8\n  minutes: 6\n  bonus: 0.2\n  consent: Our consent text.\n"
        "  headphone_trials: 3\n  headphone_pass: 3\n  practice: false\n"
        "  qualifications: [{QualificationTypeId: 000000000000000000L0, Comparator: GreaterThan,"
        " IntegerValues: [95]}]\n",
        1,
    )
    proto.write_text(text)
    design, _ = load_design(str(proto))
    assert (design.reward, design.minutes, design.bonus, design.headphone_trials) == ("0.80", 6.0, "0.20", 3)
    assert design.qualifications[0]["IntegerValues"] == [95]
    run = make_run(tmp_path / "run", ids=SAFE[:2], emotions=["negative", "positive"])
    res = build_survey(run, design, out=tmp_path / "s")
    layout = (res.out / "layout.html").read_text()
    assert "Our consent text." in layout and "$0.80 per task" in layout and "$0.20" in layout
    assert 'name="practice"' not in layout and layout.count('class="box hp"') == 3
