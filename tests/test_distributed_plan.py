"""Sharding plans: every piece of work on exactly one rank, contiguous clip spans, deterministic."""

from __future__ import annotations

import pytest
from core_fixtures import make_tiny_split

from longvgenbench import distributed
from longvgenbench.evaluation.engine import is_sequential
from longvgenbench.sharding import (
    ClipTasks,
    GenerationLoad,
    PendingVideo,
    ShardFailure,
    ShardsMissingError,
    describe_range,
    plan_evaluation,
    plan_generation,
)


def _videos(num_videos: int = 5, num_clips: int = 4, clip_evaluators=("a", "b"), sequential=("s",)):
    return [PendingVideo(f"v{i}", num_clips, tuple(ClipTasks(k, clip_evaluators) for k in range(num_clips)),
                         sequential) for i in range(num_videos)]


@pytest.mark.parametrize("world", [1, 2, 3, 4, 7, 40])
def test_evaluation_plan_covers_every_task_once(world):
    videos = _videos()
    plan = plan_evaluation(videos, world)
    assert len(plan) == world
    clip_tasks = [(w.video_id, t.clip_index, name) for works in plan for w in works for t in w.clips
                  for name in t.evaluators]
    assert sorted(clip_tasks) == sorted((v.video_id, k, n) for v in videos for k in range(4) for n in ("a", "b"))
    sequential = [(w.video_id, name) for works in plan for w in works for name in w.sequential]
    assert sorted(sequential) == sorted((v.video_id, "s") for v in videos)  # each video's sequential: one rank
    for works in plan:
        assert len({w.video_id for w in works}) == len(works)  # one decoding pass per video per rank
        for work in works:
            indices = [t.clip_index for t in work.clips]
            assert indices == list(range(indices[0], indices[-1] + 1)) if indices else True  # contiguous
            assert set(indices) <= set(work.span)
            if work.sequential:
                assert work.span == range(work.num_clips)
    assert plan == plan_evaluation(videos, world)  # deterministic


def test_evaluation_plan_balances_clips():
    plan = plan_evaluation(_videos(num_videos=10, num_clips=12, sequential=()), 4)
    per_rank = [sum(len(w.clips) for w in works) for works in plan]
    assert sum(per_rank) == 120 and max(per_rank) - min(per_rank) <= 1
    # With clip-only evaluators, a rank decodes only what it scores: 120 clips decoded in all.
    assert sum(len(w.span) for works in plan for w in works) == 120


def test_evaluation_plan_skips_finished_work():
    videos = [PendingVideo("v0", 3, (), ()), PendingVideo("v1", 3, (ClipTasks(2, ("a",)),), ())]
    plan = plan_evaluation(videos, 3)
    works = [w for rank in plan for w in rank]
    assert len(works) == 1 and works[0].video_id == "v1" and works[0].span == range(2, 3)
    assert plan_evaluation([PendingVideo("v0", 3, (), ())], 2) == ((), ())


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_generation_plan_gives_each_video_to_one_rank(world):
    loads = [GenerationLoad(f"v{i}", remaining) for i, remaining in enumerate([3, 0, 12, 5, 5, 1])]
    plan = plan_generation(loads, world)
    assert sorted(v for rank in plan for v in rank) == sorted(load.video_id for load in loads)
    for rank in plan:  # each rank goes through its videos in split order
        assert list(rank) == sorted(rank, key=lambda v: int(v[1:]))
    assert plan == plan_generation(loads, world)
    if world == 2:  # longest first to the least loaded rank (weights: remaining + 1): 16 and 16
        assert {frozenset(rank) for rank in plan} == {frozenset({"v2", "v5", "v1"}), frozenset({"v3", "v4", "v0"})}


def test_sequential_evaluators_are_those_that_keep_state():
    from evaluators.boundary import BoundaryContinuityEvaluator
    from evaluators.colour import ColourConsistencyEvaluator
    from evaluators.reference import PSNREvaluator

    assert is_sequential(ColourConsistencyEvaluator()) and is_sequential(BoundaryContinuityEvaluator())
    assert not is_sequential(PSNREvaluator())


def test_missing_shards_error_names_each_shard():
    failures = [ShardFailure(1, "vid3", "segments 2-4 of 5", "RuntimeError", "CUDA out of memory")]
    error = ShardsMissingError("generation", failures, "Run the same command again.")
    assert "vid3: segments 2-4 of 5 (rank 1: RuntimeError: CUDA out of memory)" in str(error)
    assert describe_range([4, 0, 1, 2, 7]) == "0-2, 4, 7"


def test_single_process_helpers_are_no_ops(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.session("cpu") as ranks:
        assert ranks == distributed.SINGLE and ranks.is_main and not ranks.is_distributed
        assert distributed.broadcast(ranks, 5) == 5 and distributed.gather_all(ranks, 5) == [5]
        assert distributed.on_main(ranks, lambda: "x") == "x"
        distributed.barrier(ranks)
    assert distributed.rank_device("cpu", 3) == "cpu" and distributed.rank_device("cuda:1", 3) == "cuda:1"
    split = make_tiny_split(tmp_path, num_videos=1, num_segments=1)
    assert split.samples  # fixtures importable (the multi-process tests rely on them)


def test_torchrun_environment_without_rendezvous_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(distributed.LongVGenBenchError, match="torchrun"):
        distributed.init("cpu")
