"""Submission validation on real submissions (the pipeline on a tiny synthetic split) and corrupt copies."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import pytest
from leaderboard_support import cli, document, edit, evaluators, real_runs, split_definition

from leaderboard.schema import SplitDefinition, SubmissionFormatError, parse_document
from leaderboard.validation import EvaluatorInfo, Limits, validate


def check(doc, limits: Limits | None = None, evs=None):
    sd = split_definition()
    return validate(doc, {sd.manifest_sha256: sd}, evs if evs is not None else evaluators(), limits or Limits())


def codes(verdict) -> set[str]:
    return {p.code for p in verdict.problems}


@pytest.mark.parametrize("model", ["static", "oracle"])
def test_real_submissions_are_accepted(model):
    verdict = check(document(model))
    assert verdict.accepted, verdict.summary()
    assert verdict.model == model and verdict.num_rows > 0


def _bump_mean(metric: str, delta: float):
    def results(d):
        for m in d["metrics"]:
            if m["metric"] == metric:
                m["overall"]["mean"] += delta
    return results


def _set_all(key: str, value):
    def results(d):
        for m in d["metrics"]:
            m[key] = value
    return results


CORRUPTIONS = {
    "schema": (lambda d: d.__setitem__("schema_version", "9.0"), None),
    "unknown_split": (lambda d: d.__setitem__("split_manifest_sha256", "0" * 64), None),
    "aggregate_mismatch": (_bump_mean("ssim", 1e-6), None),
    "duplicate_sample": (None, lambda rows: [*rows, rows[0]]),
    "missing_sample": (None, lambda rows: rows[1:]),
    "unexpected_sample": (None, lambda rows: [*rows, rows[0] | {"video_id": "not-in-split"}]),
    "stale_evaluator": (_set_all("evaluator_version", "0.9"), lambda rows: [r | {"evaluator_version": "0.9"}
                                                                              for r in rows]),
    "unknown_evaluator": (None, lambda rows: [*rows, rows[0] | {"evaluator": "made_up", "metric": "made_up"}]),
    "stale_weights": (_set_all("weights", {"w.pth": "ab" * 32}), lambda rows: [r | {"weights": {"w.pth": "ab" * 32}}
                                                                                for r in rows]),
    "inconsistent_evaluator": (None, lambda rows: [rows[0] | {"weights": {"x.pth": "cd" * 32}}, *rows[1:]]),
    "grid_mismatch": (lambda d: d["protocol"]["grid"].__setitem__("fps", 8.0), None),
    "bad_row": (None, lambda rows: [*rows[:-1], {"model": "static", "nonsense": True}]),
}


@pytest.mark.parametrize("code", sorted(CORRUPTIONS))
def test_corrupt_copies_are_rejected_with_their_reason(code):
    results, rows = CORRUPTIONS[code]
    verdict = check(edit(document("static"), results, rows))
    assert not verdict.accepted
    assert code in codes(verdict), verdict.summary()
    assert all(p.message for p in verdict.problems)


def test_aggregate_mismatch_names_metric_and_both_values():
    verdict = check(edit(document("static"), _bump_mean("psnr", 0.5)))
    problem = next(p for p in verdict.problems if p.code == "aggregate_mismatch")
    assert "psnr" in problem.field and "submitted" in problem.message and "recomputed" in problem.message


def test_missing_sample_is_named():
    doc = document("oracle")
    rows = [json.loads(x) for x in doc.samples_jsonl.splitlines()]
    gone = next(r for r in rows if r["metric"] == "ssim" and r["clip_index"] == 1)
    verdict = check(edit(doc, rows=lambda rs: [r for r in rs if r != gone]))
    problem = next(p for p in verdict.problems if p.code == "missing_sample")
    assert gone["video_id"] in problem.message and "clip 1" in problem.message


def test_nan_value_refused_at_the_tokenizer():
    doc = document("static")
    samples = doc.samples_jsonl.replace('"value": ', '"value": NaN, "x": ', 1)
    verdict = check(replace(doc, samples_jsonl=samples))
    assert "bad_row" in codes(verdict)


def test_size_limits():
    verdict = check(document("static"), Limits(max_bytes=1000))
    assert codes(verdict) == {"too_large"}
    verdict = check(document("static"), Limits(max_rows=3))
    assert "too_large" in codes(verdict)
    with pytest.raises(SubmissionFormatError, match="limit"):
        parse_document(b"x" * 2000, max_bytes=1000)


def test_weights_that_cannot_be_checked_here_reject():
    evs = dict(evaluators())
    evs["ssim"] = EvaluatorInfo("ssim", evs["ssim"].version, evs["ssim"].metrics, None, "no file here")
    verdict = check(document("static"), evs=evs)
    assert "weights_unverifiable" in codes(verdict)


def test_video_hashes_must_cover_the_split():
    doc = document("static")
    assert set(doc.video_sha256) == {v.video_id for v in split_definition().videos}
    verdict = check(replace(doc, video_sha256={"other": "0" * 64}))
    assert "video_hashes" in codes(verdict)


def test_parse_document_refuses_pickle_and_non_documents():
    with pytest.raises(SubmissionFormatError, match="not valid JSON"):
        parse_document(pickle.dumps({"a": 1}), 10**6)
    with pytest.raises(SubmissionFormatError, match="format"):
        parse_document(b'{"results": {}}', 10**6)
    doc = document("oracle")
    assert parse_document(doc.to_json().encode(), 10**7).content_sha256() == doc.content_sha256()


def test_split_definition_round_trip():
    sd = split_definition()
    assert SplitDefinition.from_json(sd.to_json()) == sd
    assert [s.video_id for s in sd.as_split().samples] == [v.video_id for v in sd.videos]


@pytest.mark.slow
def test_cli_validate_submit_to_dir(tmp_path):
    runs = real_runs()
    ok = cli("leaderboard", "validate", str(runs.run("oracle")), "--split", str(runs.split))
    assert "accepted" in ok.stdout
    out = cli("submit", str(runs.run("static")), "--to", str(tmp_path / "drop"), "--split", str(runs.split))
    written = list((tmp_path / "drop").glob("*.submission.json"))
    assert len(written) == 1 and str(written[0]) in out.stdout
    bad = edit(parse_document(written[0].read_bytes(), 10**7), _bump_mean("ssim", 0.25))
    (tmp_path / "bad.json").write_text(bad.to_json())
    rejected = cli("leaderboard", "validate", str(tmp_path / "bad.json"), "--split", str(runs.split), check=False)
    assert rejected.returncode == 2 and "aggregate_mismatch" in rejected.stderr and "ssim" in rejected.stderr
