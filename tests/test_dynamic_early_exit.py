"""Dynamic degree's early exit: the same decision as scoring every pair, with fewer pairs computed."""

from __future__ import annotations

import numpy as np
import torch

from evaluators.vbench import dynamic


def _evaluator_with_scores(scores: np.ndarray, batch: int, early_exit: bool):
    evaluator = dynamic.DynamicDegreeEvaluator(verify_weights=False, batch_size=batch, early_exit=early_exit)
    consumed = []

    def batch_scores(frames, fps, next_size=None):
        start = 0
        while start < len(scores):  # as the evaluator's runs: the cap, or less where ``next_size`` asks
            size = batch if next_size is None else dynamic.run_pairs(batch, next_size())
            consumed.append((start, min(size, len(scores) - start)))
            yield torch.from_numpy(scores[start : start + size]).float()
            start += size

    evaluator._batch_scores = batch_scores  # the RAFT part, replaced by known pair scores
    return evaluator, consumed


def test_same_decision_as_all_pairs_on_random_clips():
    rng = np.random.default_rng(0)
    frames = np.zeros((81, 128, 224, 3), np.uint8)  # 41 sampled frames at 16 fps -> 40 pairs, 10 needed
    thres = dynamic.threshold(128, 224)
    decisions = set()
    for trial in range(300):
        share = rng.uniform(0.0, 0.6)
        scores = np.where(rng.random(40) < share, thres + rng.uniform(0.01, 5, 40), thres - rng.uniform(0, 5, 40))
        if trial % 7 == 0:
            scores[rng.integers(0, 40)] = thres  # exactly at the threshold: not above
        expected = dynamic.is_dynamic(scores, 41, thres)
        for batch in (1, 3, 8, 40):
            evaluator, _ = _evaluator_with_scores(scores, batch, early_exit=True)
            assert evaluator.is_dynamic_clip(frames, 16.0) == expected
        decisions.add(expected)
    assert decisions == {True, False}


def test_it_stops_once_the_decision_is_settled():
    frames = np.zeros((81, 128, 224, 3), np.uint8)
    thres = dynamic.threshold(128, 224)
    moving = np.full(40, thres + 1.0)
    evaluator, consumed = _evaluator_with_scores(moving, 8, early_exit=True)
    assert evaluator.is_dynamic_clip(frames, 16.0) is True
    assert consumed == [(0, 8), (8, 2)]  # the 10 pairs above the threshold that settle it, no more
    evaluator, consumed = _evaluator_with_scores(moving, 10, early_exit=True)
    assert evaluator.is_dynamic_clip(frames, 16.0) is True
    assert consumed == [(0, 10)]  # the default cap: one run
    still = np.full(40, thres - 1.0)
    evaluator, consumed = _evaluator_with_scores(still, 10, early_exit=True)
    assert evaluator.is_dynamic_clip(frames, 16.0) is False
    # after 31 pairs below, 10 cannot be reached; the last run holds 2 (a run of 1 would compile RAFT again)
    assert consumed == [(0, 10), (10, 10), (20, 10), (30, 2)]
    evaluator, consumed = _evaluator_with_scores(still, 8, early_exit=False)
    assert evaluator.is_dynamic_clip(frames, 16.0) is False
    assert len(consumed) == 5


def test_no_pair_after_the_settling_one_is_computed():
    rng = np.random.default_rng(1)
    frames = np.zeros((81, 128, 224, 3), np.uint8)
    thres = dynamic.threshold(128, 224)
    for _ in range(200):
        scores = np.where(rng.random(40) < rng.uniform(0, 0.6), thres + 1.0, thres - 1.0)
        above = np.cumsum(scores > thres)
        below = np.cumsum(scores <= thres)
        settled = np.flatnonzero((above >= 10) | (below > 30))[0] + 1  # pairs read one at a time before it settles
        evaluator, consumed = _evaluator_with_scores(scores, 10, early_exit=True)
        assert evaluator.is_dynamic_clip(frames, 16.0) == dynamic.is_dynamic(scores, 41, thres)
        computed = sum(size for _, size in consumed)
        assert computed == settled or (computed == settled + 1 and consumed[-1][1] == dynamic.MIN_RUN_PAIRS)


def test_pairs_before_settled():
    assert dynamic.pairs_before_settled(10, 0, 40) == 10
    assert dynamic.pairs_before_settled(10, 7, 20) == 3
    assert dynamic.pairs_before_settled(10, 0, 10) == 1  # one pair below settles it static
    assert dynamic.pairs_before_settled(10, 9, 1) == 1
