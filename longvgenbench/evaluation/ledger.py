"""What one piece of evaluation work finished and where it failed (kept apart from the engine's loop)."""

from __future__ import annotations

from dataclasses import dataclass, field

from longvgenbench.results import ScoreRow


@dataclass
class Ledger:
    """What one piece of work finished, and where which evaluator failed (to name exactly what is missing).

    With ``keep_going`` an evaluator that raises is recorded here and the work goes on: a clip-independent
    evaluator with its next clip, the other evaluators as if nothing happened; a sequential evaluator is
    dropped for the rest of that video (its state is suspect). Without it the exception propagates.
    """

    keep_going: bool = False
    clips: set[tuple[str, int]] = field(default_factory=set)
    sequential: set[str] = field(default_factory=set)
    failed_clips: dict[str, list[int]] = field(default_factory=dict)
    failed_videos: set[str] = field(default_factory=set)
    first_error: dict[str, Exception] = field(default_factory=dict)
    #: The rows written, by file (relative to the run directory): rank 0 merges these without reading the
    #: files back, since on a network file system a file just made on another node may not be visible yet.
    written: dict[str, list[ScoreRow]] = field(default_factory=dict)

    def fail(self, evaluator: str, clip_index: int | None, error: Exception) -> None:
        if not self.keep_going:
            raise error
        if clip_index is None:
            self.failed_videos.add(evaluator)
        else:
            self.failed_clips.setdefault(evaluator, []).append(clip_index)
        self.first_error.setdefault(evaluator, error)
