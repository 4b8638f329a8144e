"""Dynamic degree's early exit: the same decision as scoring every pair, with fewer pairs computed."""

from __future__ import annotations

import numpy as np
import torch

from evaluators.vbench import dynamic


def _evaluator_with_scores(scores: np.ndarray, batch: int, early_exit: bool):
    evaluator = dynamic.DynamicDegreeEvaluator(verify_weights=False, batch_size=batch, early_exit=early_exit)
    consumed = []

    def batch_scores(frames, fps):
        for start in range(0, len(scores), batch):
            consumed.append(start)
            yield torch.from_numpy(scores[start : start + batch]).float()

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
    assert consumed == [0, 8]  # 16 pairs scored: 10 above the threshold settle it
    still = np.full(40, thres - 1.0)
    evaluator, consumed = _evaluator_with_scores(still, 8, early_exit=True)
    assert evaluator.is_dynamic_clip(frames, 16.0) is False
    assert consumed == [0, 8, 16, 24]  # after 32 pairs at most 8 can be above: 10 cannot be reached
    evaluator, consumed = _evaluator_with_scores(still, 8, early_exit=False)
    assert evaluator.is_dynamic_clip(frames, 16.0) is False
    assert len(consumed) == 5
