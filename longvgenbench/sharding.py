"""Who does what when several processes share a run: pure, deterministic planning.

Work is keyed by content, never by rank: a segment is (run config, video, segment index) and a
score is (evaluator@version, video, clip index | whole video), each a file in the run directory
that exists once it is finished. Rank 0 lists what is still missing, plans, and broadcasts the
plan; so a run started on 2 ranks and killed resumes on 3 (or 1) without redoing anything, and
the plan only decides who does the remaining work, never what the numbers are.

- **Generation** shards by video (a long video is generated segment after segment, each from the
  previous one's last frame, so it cannot be split): longest remaining work first, each video to
  the least loaded rank. Finished videos are still handed out (weight 1) so that their files are
  verified and their ``video.mp4`` assembled by exactly one rank.
- **Evaluation** shards by clip. Evaluators whose scorer is stateless across clips
  (``ClipEvaluator``) are split clip by clip; the others (``colour_consistency``,
  ``boundary_continuity``: anything that accumulates over a video in ``finish``) are *sequential*
  and see every clip of a video, in order, on one rank: there is no mergeable-accumulator API, so
  we keep them whole rather than guess how to merge their state. The clips of all videos, in split
  order, are cut into ``world_size`` contiguous blocks of about equal cost (1 per decoded clip plus
  1 per evaluator on it), so a rank decodes one contiguous span of each of its videos, once; a
  video's sequential evaluators go to the rank that holds most of its clips, which then decodes
  that whole video (still once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from longvgenbench.errors import LongVGenBenchError

# -- generation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationLoad:
    """A video to hand out, with how many of its segments are not finished yet."""

    video_id: str
    remaining_segments: int


def plan_generation(videos: Sequence[GenerationLoad], world_size: int) -> tuple[tuple[str, ...], ...]:
    """Video ids per rank (each in the given order). Every video goes to exactly one rank."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    position = {v.video_id: i for i, v in enumerate(videos)}
    loads = [0] * world_size
    owned: list[list[str]] = [[] for _ in range(world_size)]
    for video in sorted(videos, key=lambda v: (-(v.remaining_segments + 1), position[v.video_id])):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        loads[rank] += video.remaining_segments + 1
        owned[rank].append(video.video_id)
    return tuple(tuple(sorted(ids, key=position.__getitem__)) for ids in owned)


# -- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipTasks:
    """Clip-independent evaluators that still have to score one clip."""

    clip_index: int
    evaluators: tuple[str, ...]


@dataclass(frozen=True)
class PendingVideo:
    """What is missing for one video: clip scores per clip, and whole-video (sequential) evaluators."""

    video_id: str
    num_clips: int
    clips: tuple[ClipTasks, ...]
    sequential: tuple[str, ...]


@dataclass(frozen=True)
class VideoWork:
    """One rank's part of one video, done in a single decoding pass."""

    video_id: str
    num_clips: int
    clips: tuple[ClipTasks, ...]  # clip-independent scoring this rank does, by clip
    sequential: tuple[str, ...]  # evaluators this rank runs over every clip of the video, in order

    @property
    def span(self) -> range:
        """The clips this rank decodes: all of them for sequential evaluators, else the first to the last
        clip it scores."""
        if self.sequential:
            return range(self.num_clips)
        if not self.clips:
            return range(0)
        return range(self.clips[0].clip_index, self.clips[-1].clip_index + 1)

    def evaluators_for(self, clip_index: int) -> tuple[str, ...]:
        for task in self.clips:
            if task.clip_index == clip_index:
                return task.evaluators
        return ()


def plan_evaluation(videos: Sequence[PendingVideo], world_size: int) -> tuple[tuple[VideoWork, ...], ...]:
    """Per rank, the parts of videos it scores (in split order). Every task lands on exactly one rank."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    items: list[tuple[str, int, int]] = []  # (video_id, clip, cost) of clips with something to do
    for video in videos:
        per_clip = {t.clip_index: len(t.evaluators) for t in video.clips}
        for k in range(video.num_clips):
            work = per_clip.get(k, 0) + len(video.sequential)
            if work:
                items.append((video.video_id, k, 1 + work))
    total = sum(cost for _, _, cost in items)
    owner: dict[tuple[str, int], int] = {}
    done = 0
    for video_id, k, cost in items:  # contiguous blocks: the rank whose share holds the item's midpoint
        owner[(video_id, k)] = min(world_size - 1, int((done + cost / 2) * world_size / total))
        done += cost
    plan: list[list[VideoWork]] = [[] for _ in range(world_size)]
    for video in videos:
        sequential_rank: int | None = None
        if video.sequential:
            held = [0] * world_size
            for k in range(video.num_clips):
                if (video.video_id, k) in owner:
                    held[owner[(video.video_id, k)]] += 1
            sequential_rank = max(range(world_size), key=lambda r: (held[r], -r))
        for rank in range(world_size):
            clips = tuple(t for t in video.clips if t.evaluators and owner.get((video.video_id, t.clip_index)) == rank)
            sequential = video.sequential if rank == sequential_rank else ()
            if clips or sequential:
                plan[rank].append(VideoWork(video.video_id, video.num_clips, clips, sequential))
    return tuple(tuple(works) for works in plan)


# -- failures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardFailure:
    """A piece of work that one rank could not finish; everything else it did is kept."""

    rank: int
    video_id: str
    what: str  # e.g. "segments 2-3 of 3" or "clips 0-4 with ssim, psnr"
    error_type: str
    message: str


@dataclass(frozen=True)
class RankReport:
    """What one rank tells the others at the end: how much it did, and what it could not do."""

    done: int
    reused: int
    failures: tuple[ShardFailure, ...]


class ShardsMissingError(LongVGenBenchError):
    """Some shards failed; the rest finished and is kept, and the same command redoes only these."""

    def __init__(self, stage: str, failures: Sequence[ShardFailure], rerun: str) -> None:
        self.stage = stage
        self.failures = tuple(failures)
        shown = "\n".join(f"  {f.video_id}: {f.what} (rank {f.rank}: {f.error_type}: {f.message})"
                          for f in self.failures[:20])
        more = f"\n  ... and {len(self.failures) - 20} more" if len(self.failures) > 20 else ""
        super().__init__(f"{stage}: {len(self.failures)} shard(s) missing, everything else is finished and kept:\n"
                         f"{shown}{more}\n{rerun}")


def describe_range(indices: Sequence[int]) -> str:
    """``[1, 2, 3]`` -> ``"1-3"``, ``[0, 2, 3]`` -> ``"0, 2-3"``."""
    runs: list[list[int]] = []
    for index in sorted(set(indices)):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
