"""survey simulate + aggregate: a simulated crowd is recovered; malformed results files of every kind."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.survey.aggregate import PREF_COLUMNS, aggregate, analyse, read_results
from s2w_eval.survey.build import build_survey
from s2w_eval.survey.keyfile import load_key
from s2w_eval.survey.simulate import parse_preference, power, simulate
from tests.test_survey_build import HOSTILE, SAFE, make_run, read_csv, small_design

TRUE = ["scene2wav>baseline:0.85", "negative:target>scene2wav:0.8", "positive:scene2wav>target:0.5"]


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("agg")
    run = make_run(tmp / "run")
    res = build_survey(run, small_design(raters=20, min_seconds=5.0), seed=11, out=tmp / "s")
    results, truth = simulate(
        res.out, [parse_preference(p) for p in TRUE], careless=0.2, none_share=0.1, seed=5
    )
    return res.out, results, truth


@pytest.fixture(scope="module")
def aggregated(survey, tmp_path_factory):
    out, results, truth = survey
    agg_out = tmp_path_factory.mktemp("aggout")
    an, out_dir, files = aggregate(results, out / "answer_key.csv", agg_out, n_resamples=300)
    return an, out_dir, files, truth


def _row(prefs, sample, emotion, first, second):
    return next(
        r
        for r in prefs
        if r["sample"] == sample and r["emotion"] == emotion and (r["first"], r["second"]) == (first, second)
    )


def test_simulated_crowd_true_preferences_are_recovered(aggregated):
    an, out_dir, files, truth = aggregated
    assert an.fatal_count == 0
    prefs = an.preferences
    sb = _row(prefs, "all", "all", "scene2wav", "baseline")
    decisive = sb["first_count"] / sb["decisive"]
    assert abs(decisive - 0.85) < 0.06 and sb["p_value"] < 1e-6 and sb["ci_low"] > 0.5
    neg = _row(prefs, "all", "negative", "scene2wav", "target")
    assert abs(neg["second_count"] / neg["decisive"] - 0.8) < 0.08 and neg["p_value"] < 1e-4
    pos = _row(prefs, "all", "positive", "scene2wav", "target")
    assert pos["p_value"] > 0.01  # stated 50:50
    assert abs(sb["none_share"] - 0.1) < 0.05
    # every counted answer is in exactly one per-sample row; the pooled rows add up
    per_sample = [
        r for r in prefs if r["sample"] != "all" and (r["first"], r["second"]) == ("scene2wav", "baseline")
    ]
    assert len(per_sample) == len(SAFE + HOSTILE)
    assert sum(r["n"] for r in per_sample) == sb["n"] == (20 - len(an.excluded)) * len(SAFE + HOSTILE)
    for r in prefs:
        if r["n"]:
            assert r["first_share"] + r["second_share"] + r["none_share"] == pytest.approx(1.0)
    # Bradley-Terry puts the baseline last (it loses to scene2wav and, 50:50 or worse, to the target)
    assert an.bradley_terry["table"][-1]["condition"] == "baseline"


def test_careless_raters_are_recovered_and_rejected(aggregated):
    an, out_dir, files, truth = aggregated
    careless = set(truth["careless"])
    assert len(careless) == 4
    assert an.excluded <= careless  # no attentive rater is excluded
    assert len(an.excluded & careless) >= 3
    decisions = read_csv(out_dir / "assignments.csv")
    assert len(decisions) == 20 * len(SAFE + HOSTILE)
    rejected_workers = {a["WorkerId"] for a in decisions if a["decision"] == "reject"}
    assert rejected_workers <= careless
    for a in decisions:
        assert a["decision"] in ("approve", "reject")
        assert (a["decision"] == "reject") <= bool(a["reason"])  # every rejection says why
        assert a["headphone_trials"] == "6"
    # approvals.csv: MTurk's offline-review format (the results file's own columns + Approve/Reject)
    approvals = read_csv(out_dir / "approvals.csv")
    assert len(approvals) == len(decisions)
    by_id = {a["AssignmentId"]: a for a in decisions}
    for a in approvals:
        d = by_id[a["AssignmentId"]]
        assert (a["Approve"], a["Reject"]) == (("x", "") if d["decision"] == "approve" else ("", d["reason"]))
        assert a["WorkerId"] == d["WorkerId"] and a["HITId"] and "Answer.pair1" in a
    # the block list: every excluded rater, with the reason
    blocked = read_csv(out_dir / "blocklist.csv")
    assert {b["WorkerId"] for b in blocked} == an.excluded
    assert all("failed" in b["reason"] for b in blocked)
    raters = {r["worker"]: r for r in read_csv(out_dir / "raters.csv")}
    assert all(raters[w]["reasons"] for w in an.excluded)  # every exclusion has a reason per rater


def test_review_decisions_only_for_submitted_and_approve_excluded_and_bonus(survey, tmp_path):
    out, results, truth = survey
    header, rows = read_results(results)
    cells = [list(c) for _, c in rows]
    col = {h: i for i, h in enumerate(header)}
    careless = set(truth["careless"])
    # the first careless rater's assignments were already reviewed on the marketplace: one approved, one
    # rejected; neither may appear in the review file (an approval cannot be reversed)
    w = sorted(careless)[0]
    mine = [c for c in cells if c[col["WorkerId"]] == w]
    mine[0][col["AssignmentStatus"]] = "Approved"
    mine[1][col["AssignmentStatus"]] = "Rejected"
    reviewed = {mine[0][col["AssignmentId"]], mine[1][col["AssignmentId"]]}
    path = _write(tmp_path / "r.csv", header, cells)
    an, out_dir, _ = aggregate(path, out / "answer_key.csv", tmp_path / "o", n_resamples=100, plots=False)
    listed = {a["AssignmentId"] for a in read_csv(out_dir / "approvals.csv")}
    assert not listed & reviewed
    assert len(listed) == len(cells) - 2
    assert not (out_dir / "bonuses.csv").exists()  # no bonus in the design
    # --approve-excluded: the failed (not malformed) assignments of excluded raters are approved, reason kept
    an2, out2, _ = aggregate(
        path,
        out / "answer_key.csv",
        tmp_path / "o2",
        n_resamples=100,
        plots=False,
        approve_excluded=True,
        bonus="0.25",
    )
    assert an2.excluded == an.excluded  # the analysis is the same: only payment changes
    dec = read_csv(out2 / "assignments.csv")
    assert {d["decision"] for d in dec if d["AssignmentId"] not in reviewed} == {"approve"}
    assert all(
        d["reason"].startswith("approved, data excluded")
        for d in dec
        if d["WorkerId"] in an.excluded and d["AssignmentId"] not in reviewed
    )
    bonuses = read_csv(out2 / "bonuses.csv")
    assert bonuses and {b["BonusAmount"] for b in bonuses} == {"0.25"}
    assert not {b["WorkerId"] for b in bonuses} & an.excluded
    assert len(bonuses) == sum(1 for d in dec if d["WorkerId"] not in an.excluded)


def test_results_of_another_batch_are_refused(survey, tmp_path):
    out, results, _ = survey
    header, rows = read_results(results)
    cells = [list(c) for _, c in rows]
    col = {h: i for i, h in enumerate(header)}
    cells[0][col["Input.batch"]] = "s2w-000000000000"
    path = _write(tmp_path / "r.csv", header, cells)
    an, _, _ = aggregate(path, out / "answer_key.csv", tmp_path / "o", n_resamples=100, plots=False)
    assert [e["row"] for e in an.issues["other_batch"]] == [2] and an.fatal_count == 1


def test_output_files(aggregated):
    an, out_dir, files, truth = aggregated
    with open(out_dir / "preferences.csv", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    assert header[: len(PREF_COLUMNS)] == list(PREF_COLUMNS)
    samples = {r[0] for r in rows}
    assert "all" in samples and '\'=HYPERLINK("http:evil","x")' in samples
    for r in rows:
        for cell in r:
            assert not cell.startswith(("=", "+", "@")), cell
    emotions = {(r[0], r[1]) for r in rows if r[0] == "all"}
    assert emotions == {("all", "all"), ("all", "negative"), ("all", "positive")}
    summary = json.loads((out_dir / "survey.json").read_text())
    assert summary["provenance"]["inputs"]["answer_key_sha256"]
    assert summary["raters"]["excluded"] == sorted(an.excluded)
    assert summary["fleiss_kappa"]["all"]["subjects"] == 3 * len(SAFE + HOSTILE)
    for name in ("preferences_negative", "preferences_positive", "preferences_all"):
        for ext in ("png", "svg"):
            p = out_dir / f"{name}.{ext}"
            assert p in files and p.stat().st_size > 1000
    assert "onerror" not in (out_dir / "preferences_negative.svg").read_text().replace(
        "onerror=alert(1)&gt;", ""
    )


def test_ab_randomisation_is_undone(survey, tmp_path):
    """Raters who always answer 'A' prefer, per pair, whichever condition the key put at A."""
    out, results, _ = survey
    key = load_key(out / "answer_key.csv")
    header, rows = read_results(results)
    ans = [i for i, h in enumerate(header) if h.startswith("Answer.")]
    for _, cells in rows:
        for i in ans:
            cells[i] = "A"
    an = analyse(header, rows, key, min_seconds=0, light=True)
    workers = {c[header.index("WorkerId")] for _, c in rows}
    for first, second in key.design.pairs:
        at_a = sum(
            1
            for items in key.tasks.values()
            for it in items.values()
            if it.kind == "pair" and (it.first, it.second) == (first, second) and it.first_side == "A"
        )
        row = _row(an.preferences, "all", "all", first, second)
        kept = len(workers - an.excluded)
        assert row["first_count"] == at_a * kept
        assert row["second_count"] == (len(key.tasks) - at_a) * kept


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def test_malformed_results_of_every_kind_are_reported_with_rows(survey, tmp_path):
    out, results, _ = survey
    header, rows = read_results(results)
    cells = [list(c) for _, c in rows]
    col = {h: i for i, h in enumerate(header)}
    n0 = len(cells)
    cells[2][col["Input.task_id"]] = "t999"  # row 4: unknown task
    cells[3][col["Input.pair1_a"]] = "media/c0000000000000000.wav"  # row 5: inputs differ from the key
    cells[4][col["AssignmentStatus"]] = "Rejected"  # row 6: rejected on the marketplace
    cells[5][col["Answer.pair1"]] = "C"  # row 7: malformed answer
    cells[6][col["Answer.pair2"]] = ""  # row 8: missing answer
    cells[7][col["WorkTimeInSeconds"]] = "soon"  # row 9: malformed time
    cells[8] = cells[8][:5]  # row 10: wrong number of fields
    cells.append(list(cells[10]))  # duplicate AssignmentId
    twice = list(cells[11])
    twice[col["AssignmentId"]] = "NEWASSIGNMENT"
    cells.append(twice)  # same worker, same task again
    bad = _write(tmp_path / "bad.csv", header, cells)
    an, out_dir, _ = aggregate(bad, out / "answer_key.csv", tmp_path / "o", n_resamples=100, plots=False)
    rows_of = {k: [e["row"] for e in v] for k, v in an.issues.items()}
    assert rows_of["unknown_tasks"] == [4]
    assert rows_of["inputs_differ"] == [5]
    assert rows_of["rejected_assignments"] == [6]
    assert rows_of["malformed_answers"] == [7, 8, 9]
    assert rows_of["malformed_rows"] == [10]
    assert rows_of["duplicate_assignments"] == [n0 + 2, n0 + 3]
    valid = sum(1 for a in an.assignments if a.answers)
    assert valid == n0 - 7  # nothing silently dropped or counted
    approvals = read_csv(out_dir / "assignments.csv")
    assert {a["row"]: a["decision"] for a in approvals if a["row"] in ("7", "8", "9")} == {
        "7": "reject",
        "8": "reject",
        "9": "reject",
    }
    assert (out_dir / "preferences.csv").is_file()
    # through the CLI: exit 1, problems named with their rows, no traceback
    code = run_main(
        cli,
        [
            "survey",
            "aggregate",
            str(bad),
            "--key",
            str(out / "answer_key.csv"),
            "--out",
            str(tmp_path / "o2"),
            "--no-plots",
            "--resamples",
            "100",
        ],
    )
    assert code == 1
    summary = json.loads((tmp_path / "o2" / "survey.json").read_text())
    assert summary["validation"]["counts"]["malformed_answers"] == 3


def test_missing_columns(survey, tmp_path, capsys):
    out, results, _ = survey
    header, rows = read_results(results)
    drop = header.index("Answer.pair2")
    h2 = [h for i, h in enumerate(header) if i != drop]
    r2 = [[c for i, c in enumerate(cells) if i != drop] for _, cells in rows]
    f = _write(tmp_path / "nocol.csv", h2, r2)
    an, _, _ = aggregate(f, out / "answer_key.csv", tmp_path / "o", n_resamples=100, plots=False)
    assert [e["message"] for e in an.issues["missing_columns"]] == ["column Answer.pair2 is missing"]
    assert len(an.issues["malformed_answers"]) == len(rows)
    # a required column missing: nothing can be matched; exit 1 with the column named
    drop = header.index("WorkerId")
    f = _write(
        tmp_path / "noworker.csv",
        [h for i, h in enumerate(header) if i != drop],
        [[c for i, c in enumerate(cells) if i != drop] for _, cells in rows],
    )
    code = run_main(
        cli,
        [
            "survey",
            "aggregate",
            str(f),
            "--key",
            str(out / "answer_key.csv"),
            "--out",
            str(tmp_path / "o3"),
            "--no-plots",
        ],
    )
    err = capsys.readouterr().err
    assert code == 1 and "WorkerId" in err and "Traceback" not in err


def test_min_seconds_excluding_everyone_still_reports(survey, tmp_path):
    out, results, _ = survey
    an, out_dir, _ = aggregate(
        results, out / "answer_key.csv", tmp_path / "o", min_seconds=1e9, n_resamples=100, plots=False
    )
    assert len(an.excluded) == 20
    row = _row(an.preferences, "all", "all", "scene2wav", "baseline")
    assert row["n"] == 0 and math.isnan(row["p_value"])
    summary = json.loads((out_dir / "survey.json").read_text())
    assert summary["preferences"][0]["p_value"] is None  # strict JSON: no NaN


def test_power_analysis(survey):
    out, _, _ = survey
    strong = power(out, [parse_preference("scene2wav>baseline:0.85")], runs=10, raters=8, seed=1)
    assert strong[0]["power"] >= 0.9
    weak = power(out, [parse_preference("scene2wav>baseline:0.52")], runs=10, raters=3, seed=1)
    assert weak[0]["power"] <= 0.5


def test_simulate_rejects_bad_specs(survey):
    out, _, _ = survey
    for bad in ("scene2wav>baseline", "scene2wav>baseline:1.5", "happy:scene2wav>baseline:0.6"):
        assert run_main(cli, ["survey", "simulate", str(out), "--prefer", bad]) == 2
    assert run_main(cli, ["survey", "simulate", str(out), "--prefer", "scene2wav>basline:0.6"]) == 2
