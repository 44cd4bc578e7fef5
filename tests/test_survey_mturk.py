"""survey publish / fetch / review against botocore's Stubber: no network, real MTurk request shapes."""

from __future__ import annotations

import datetime as dt
import re
from xml.sax.saxutils import escape

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.errors import UsageError
from s2w_eval.survey.aggregate import aggregate
from s2w_eval.survey.build import build_survey
from s2w_eval.survey.mturk import SANDBOX_ENDPOINT, fetch, parse_answer, publish, review
from s2w_eval.survey.simulate import parse_preference, simulate
from tests.test_survey_build import SAFE, make_run, read_csv, small_design

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install 's2w[mturk]')")
from botocore.stub import ANY, Stubber  # noqa: E402

QFA = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"


def _client():
    return boto3.client(
        "mturk",
        region_name="us-east-1",
        endpoint_url=SANDBOX_ENDPOINT,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _answer_xml(fields: dict[str, str]) -> str:
    body = "".join(
        f"<Answer><QuestionIdentifier>{escape(k)}</QuestionIdentifier><FreeText>{escape(str(v))}</FreeText></Answer>"
        for k, v in fields.items()
    )
    return f'<?xml version="1.0" encoding="UTF-8"?><QuestionFormAnswers xmlns="{QFA}">{body}</QuestionFormAnswers>'


@pytest.fixture()
def built(tmp_path):
    run = make_run(tmp_path / "run", ids=SAFE[:3], emotions=["negative", "positive", "negative"])
    design = small_design(raters=4, reward="0.40", minutes=4.0, bonus="0.10", min_seconds=0.0)
    res = build_survey(run, design, seed=1, out=tmp_path / "s", base_url="https://cdn.example.org/s/")
    return res


def test_publish_creates_one_htmlquestion_hit_per_row_and_resumes(built):
    out = built.out
    batch = read_csv(out / "batch.csv")
    client = _client()
    with Stubber(client) as stub:
        for i, row in enumerate(batch):
            stub.add_response(
                "create_hit",
                {"HIT": {"HITId": f"HIT{i}", "HITTypeId": "TYPE1", "CreationTime": dt.datetime(2026, 1, 1)}},
                {
                    "Title": built.manifest["design"]["title"],
                    "Description": ANY,
                    "Keywords": ANY,
                    "Reward": "0.40",
                    "MaxAssignments": 4,
                    "LifetimeInSeconds": 72 * 3600,
                    "AssignmentDurationInSeconds": 12 * 60,
                    "AutoApprovalDelayInSeconds": 72 * 3600,
                    "Question": ANY,
                    "RequesterAnnotation": f"{row['batch']}:{row['task_id']}",
                    "UniqueRequestToken": f"{row['batch']}-{row['task_id']}",
                },
            )
        res = publish(out, client)
        stub.assert_no_pending_responses()
    assert res["created"] == len(batch) and res["worker_url"].endswith("/projects/TYPE1/tasks")
    published = read_csv(out / "published.csv")
    assert [p["HITId"] for p in published] == [f"HIT{i}" for i in range(len(batch))]
    # a rerun makes no call at all (the Stubber raises on any unexpected request)
    with Stubber(client):
        assert publish(out, client)["created"] == 0


def test_publish_question_is_the_filled_page(built):
    client = _client()
    batch = read_csv(built.out / "batch.csv")
    seen = []
    with Stubber(client) as stub:
        for _ in batch:
            stub.add_response("create_hit", {"HIT": {"HITId": "H", "HITTypeId": "T"}}, None)
        client.meta.events.register(
            "provide-client-params.mturk.CreateHIT", lambda params, **kw: seen.append(params["Question"])
        )
        publish(built.out, client)
    q = seen[0]
    assert q.startswith("<HTMLQuestion xmlns=") and "<![CDATA[" in q and "<FrameHeight>0</FrameHeight>" in q
    assert "${" not in q and batch[0]["pair1_a"] in q  # the row's media URLs, filled in
    assert q.count("<form") == 1 and 'name="assignmentId"' in q


def test_publish_refuses_relative_media(tmp_path):
    run = make_run(tmp_path / "run", ids=SAFE[:2], emotions=["negative", "positive"])
    res = build_survey(run, small_design(), out=tmp_path / "s")
    with pytest.raises(UsageError, match="base URL"):
        publish(res.out, _client())


def test_fetch_writes_the_requester_ui_results_format_and_aggregate_reads_it(built, tmp_path):
    out = built.out
    batch = read_csv(out / "batch.csv")
    client = _client()
    with Stubber(client) as stub:
        for i, _ in enumerate(batch):
            stub.add_response("create_hit", {"HIT": {"HITId": f"HIT{i}", "HITTypeId": "TYPE1"}}, None)
        publish(out, client)
    # what the raters answered: a simulated crowd, sent back as MTurk's answer XML
    sim, truth = simulate(out, [parse_preference("scene2wav>baseline:0.9")], raters=4, careless=0.25, seed=2)
    sim_rows = read_csv(sim)
    accept = dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.UTC)
    with Stubber(client) as stub:
        for i, row in enumerate(batch):
            mine = [r for r in sim_rows if r["Input.task_id"] == row["task_id"]]
            assignments = [
                {
                    "AssignmentId": r["AssignmentId"],
                    "WorkerId": r["WorkerId"],
                    "HITId": f"HIT{i}",
                    "AssignmentStatus": "Submitted",
                    "AcceptTime": accept,
                    "SubmitTime": accept + dt.timedelta(seconds=int(r["WorkTimeInSeconds"])),
                    "Answer": _answer_xml({k[7:]: v for k, v in r.items() if k.startswith("Answer.")}),
                }
                for r in mine
            ]
            # two pages: NextToken is followed
            stub.add_response(
                "list_assignments_for_hit",
                {"Assignments": assignments[:2], "NextToken": "page2", "NumResults": 2},
                {
                    "HITId": f"HIT{i}",
                    "MaxResults": 100,
                    "AssignmentStatuses": ["Submitted", "Approved", "Rejected"],
                },
            )
            stub.add_response(
                "list_assignments_for_hit",
                {"Assignments": assignments[2:], "NumResults": len(assignments) - 2},
                {
                    "HITId": f"HIT{i}",
                    "MaxResults": 100,
                    "AssignmentStatuses": ["Submitted", "Approved", "Rejected"],
                    "NextToken": "page2",
                },
            )
        path, n, problems = fetch(out, client, tmp_path / "results.csv")
        stub.assert_no_pending_responses()
    assert problems == [] and n == len(sim_rows)
    got = read_csv(path)
    assert list(got[0])[:10] == [
        "HITId",
        "HITTypeId",
        "Title",
        "Reward",
        "AssignmentId",
        "WorkerId",
        "AssignmentStatus",
        "AcceptTime",
        "SubmitTime",
        "WorkTimeInSeconds",
    ]
    by_id = {r["AssignmentId"]: r for r in sim_rows}
    for r in got:
        s = by_id[r["AssignmentId"]]
        assert {k: v for k, v in r.items() if k.startswith(("Answer.pair", "Input."))} == {
            k: v for k, v in s.items() if k.startswith(("Answer.pair", "Input."))
        }
        assert r["WorkTimeInSeconds"] == s["WorkTimeInSeconds"]
    an, agg, _ = aggregate(path, out / "answer_key.csv", tmp_path / "agg", n_resamples=100, plots=False)
    assert an.fatal_count == 0 and an.excluded <= set(truth["careless"])

    # review: approvals, rejections, bonuses and blocks go out as the files say
    approvals = read_csv(agg / "approvals.csv")
    bonuses = read_csv(agg / "bonuses.csv")
    blocked = read_csv(agg / "blocklist.csv")
    assert bonuses and all(b["BonusAmount"] == "0.10" for b in bonuses)
    with Stubber(client) as stub:
        for a in approvals:
            if a["Approve"] == "x":
                stub.add_response("approve_assignment", {}, {"AssignmentId": a["AssignmentId"]})
            else:
                stub.add_response(
                    "reject_assignment",
                    {},
                    {"AssignmentId": a["AssignmentId"], "RequesterFeedback": a["Reject"]},
                )
        for b in bonuses:
            stub.add_response(
                "send_bonus",
                {},
                {
                    "WorkerId": b["WorkerId"],
                    "AssignmentId": b["AssignmentId"],
                    "BonusAmount": "0.10",
                    "Reason": b["Reason"],
                    "UniqueRequestToken": f"s2w-bonus-{b['AssignmentId']}",
                },
            )
        for w in blocked:
            stub.add_response("create_worker_block", {}, {"WorkerId": w["WorkerId"], "Reason": w["reason"]})
        counts, problems = review(
            agg / "approvals.csv", client, bonuses=agg / "bonuses.csv", blocklist=agg / "blocklist.csv"
        )
        stub.assert_no_pending_responses()
    assert problems == []
    assert counts["approved"] + counts["rejected"] == len(approvals) and counts["bonuses"] == len(bonuses)
    assert counts["blocked"] == len(blocked)
    # a rerun sends nothing (review_log.csv says it is done)
    with Stubber(client):
        counts, problems = review(
            agg / "approvals.csv", client, bonuses=agg / "bonuses.csv", blocklist=agg / "blocklist.csv"
        )
    assert counts["skipped"] == len(approvals) + len(bonuses) + len(blocked) and problems == []


def test_review_failure_is_named_and_the_rest_done(built, tmp_path):
    (tmp_path / "a.csv").write_text(
        "AssignmentId,WorkerId,Approve,Reject\nA1,W1,x,\nA2,W2,,too fast\nA3,W3,x,\n"
    )
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("approve_assignment", {}, {"AssignmentId": "A1"})
        stub.add_client_error(
            "reject_assignment", "RequestError", "This operation can be called with a status of: Submitted"
        )
        stub.add_response("approve_assignment", {}, {"AssignmentId": "A3"})
        counts, problems = review(tmp_path / "a.csv", client)
    assert counts["approved"] == 2 and counts["failed"] == 1
    assert len(problems) == 1 and "reject A2" in problems[0].message
    log = read_csv(tmp_path / "review_log.csv")
    assert [(e["target"], e["status"]) for e in log] == [("A1", "ok"), ("A2", "failed"), ("A3", "ok")]


def test_parse_answer_and_live_needs_confirmation(built, monkeypatch):
    xml = _answer_xml({"pair1": "A", "consent": "yes"})
    assert parse_answer(xml) == {"pair1": "A", "consent": "yes"}
    # --live without --yes asks; answering no aborts before any client exists
    import s2w_eval.survey.mturk as m

    monkeypatch.setattr(m, "make_client", lambda sandbox: pytest.fail("no client may be made"))
    monkeypatch.setattr("click.confirm", lambda *a, **k: (_ for _ in ()).throw(__import__("click").Abort()))
    code = run_main(cli, ["survey", "publish", str(built.out), "--live"])
    assert code != 0
    assert re.search(r"sandbox", m.SANDBOX_ENDPOINT)


def test_qualifications_reach_createhit(built):
    client = _client()
    batch = read_csv(built.out / "batch.csv")
    with Stubber(client) as stub:
        for _ in batch:
            stub.add_response(
                "create_hit",
                {"HIT": {"HITId": "H", "HITTypeId": "T"}},
                {
                    "Title": ANY,
                    "Description": ANY,
                    "Keywords": ANY,
                    "Reward": "0.40",
                    "MaxAssignments": 4,
                    "LifetimeInSeconds": ANY,
                    "AssignmentDurationInSeconds": ANY,
                    "AutoApprovalDelayInSeconds": ANY,
                    "Question": ANY,
                    "RequesterAnnotation": ANY,
                    "UniqueRequestToken": ANY,
                    "QualificationRequirements": [
                        {
                            "QualificationTypeId": "000000000000000000L0",
                            "Comparator": "GreaterThanOrEqualTo",
                            "IntegerValues": [97],
                            "ActionsGuarded": "DiscoverPreviewAndAccept",
                        },
                        {
                            "QualificationTypeId": "00000000000000000071",
                            "Comparator": "In",
                            "LocaleValues": [{"Country": "US"}, {"Country": "GB"}],
                            "ActionsGuarded": "DiscoverPreviewAndAccept",
                        },
                    ],
                },
            )
        publish(built.out, client, min_approval=97, locales=["us", "GB"])
        stub.assert_no_pending_responses()
