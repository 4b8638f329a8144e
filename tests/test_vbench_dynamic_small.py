"""dynamic_degree on frames too small for RAFT: a clear error naming the clip and the limit, before any weights load.

torchvision's RAFT raises a bare ValueError ("Feature maps are too small ...") when a padded side is
under 128 px; VBench's own RAFT silently returns NaN. Ours refuses by name instead.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluators.feed import clip_views, in_memory_sample
from evaluators.vbench import dynamic
from longvgenbench.errors import LongVGenBenchError, VideoError


@pytest.mark.parametrize(("height", "width"), [(64, 112), (120, 224), (224, 96)])
def test_small_clip_is_refused_by_name(height: int, width: int) -> None:
    evaluator = dynamic.DynamicDegreeEvaluator(verify_weights=False)  # no weights needed: the check comes first
    sample = in_memory_sample("tiny_video", 81, height, width)
    frames = np.zeros((81, height, width, 3), np.uint8)
    view = next(clip_views(sample, frames))
    with pytest.raises(VideoError) as caught:
        evaluator.score_clip(view)
    message = str(caught.value)
    assert "tiny_video clip 0" in message
    assert f"{height}x{width}" in message
    assert "121 px" in message and "128" in message
    assert isinstance(caught.value, LongVGenBenchError)
    with pytest.raises(VideoError, match="RAFT needs both sides"):
        evaluator.pair_scores(frames, 16.0)


@pytest.mark.parametrize(("height", "width", "ok"), [(121, 121, True), (120, 400, False), (128, 224, True)])
def test_size_limit_is_the_padded_side(height: int, width: int, ok: bool) -> None:
    if ok:
        dynamic.check_raft_size(height, width, "v")
    else:
        with pytest.raises(VideoError):
            dynamic.check_raft_size(height, width, "v")


def test_a_single_sampled_frame_needs_no_size_check() -> None:
    """Fewer than two sampled frames means no pair: nothing to refuse (VBench scores such a clip static)."""
    evaluator = dynamic.DynamicDegreeEvaluator(verify_weights=False)
    assert evaluator.pair_scores(np.zeros((1, 32, 32, 3), np.uint8), 16.0).size == 0
