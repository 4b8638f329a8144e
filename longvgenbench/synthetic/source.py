"""The synthetic split sources, registered as ``synthetic`` and ``synthetic-mini``.

Lengths: a video of ``seconds`` at 16 fps has round(16 * seconds) frames, all rendered and kept
in the ground truth; its clips are the full 81-frame clips at stride 80 that fit (60 s = 960
frames -> 11 clips covering 881 frames, the protocol's count for a one-minute video).
``num_clips`` instead asks for exactly that many clips and no tail (3 clips = 241 frames).
Categories cycle over indoor-day, outdoor-day, outdoor-night, indoor-night, so every split of
four or more videos holds all four.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from tqdm import tqdm

from longvgenbench.errors import SplitError
from longvgenbench.records import Grid
from longvgenbench.splits.api import SplitSource
from longvgenbench.splits.store import MANIFEST_JSON, begin_split, finish_split, finished_videos, split_header
from longvgenbench.synthetic.video import VideoSpec, render_video

GENERATOR_VERSION = "1"
CATEGORIES = (("indoor", "day"), ("outdoor", "day"), ("outdoor", "night"), ("indoor", "night"))
FPS = 16.0


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of a synthetic split; any of them can be passed to ``make``."""

    num_videos: int = 10
    seconds: float = 60.0
    num_clips: int | None = None  # overrides seconds: exactly this many clips, no tail
    height: int = 480
    width: int = 832
    track_grid: tuple[int, int] = (50, 50)

    @property
    def num_frames(self) -> int:
        grid = Grid()
        return grid.frames_for_clips(self.num_clips) if self.num_clips is not None else int(round(self.seconds * FPS))

    def validate(self) -> None:
        if self.num_videos < 1:
            raise SplitError(f"num_videos must be >= 1, got {self.num_videos}")
        if self.height < 16 or self.width < 16 or self.height % 2 or self.width % 2:
            raise SplitError(f"height and width must be even and >= 16 (H.264), got {self.height}x{self.width}")
        if self.num_frames < Grid().clip_frames:
            raise SplitError(f"{self.num_frames} frames hold no {Grid().clip_frames}-frame clip; ask for more "
                             f"seconds or num_clips >= 1")
        if len(self.track_grid) != 2 or min(self.track_grid) < 1:
            raise SplitError(f"track_grid must be (rows, cols) >= 1, got {self.track_grid}")


@dataclass(frozen=True)
class SyntheticSource(SplitSource):
    """Procedurally rendered long videos with exact depth, tracks and cameras."""

    name: str
    description: str
    defaults: SyntheticParams
    version: ClassVar[str] = GENERATOR_VERSION

    def params(self, **overrides: Any) -> SyntheticParams:
        known = {f.name for f in fields(SyntheticParams)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise SplitError(f"unknown parameter(s) {unknown} for split source {self.name!r}; known: {sorted(known)}")
        if "track_grid" in overrides:
            overrides["track_grid"] = tuple(int(v) for v in overrides["track_grid"])
        params = replace(self.defaults, **overrides)
        params.validate()
        return params

    def specs(self, seed: int, params: SyntheticParams) -> list[VideoSpec]:
        grid = Grid(fps=FPS, height=params.height, width=params.width)
        out = []
        for index in range(params.num_videos):
            setting, lighting = CATEGORIES[index % len(CATEGORIES)]
            out.append(VideoSpec(video_id=f"syn{index:03d}_{setting}_{lighting}", entropy=(seed, index),
                                 setting=setting, lighting=lighting, num_frames=params.num_frames, grid=grid,
                                 track_grid=params.track_grid))
        return out

    def make(self, out: Path, *, seed: int = 0, progress: bool = True, **params: Any) -> Path:
        """Render the split into ``out``; a killed make resumes, keeping the videos it finished."""
        out = Path(out)
        chosen = self.params(**params)
        specs = self.specs(seed, chosen)
        grid = specs[0].grid
        source = {"name": self.name, "generator": "longvgenbench.synthetic", "generator_version": self.version,
                  "seed": seed, "num_videos": chosen.num_videos, "num_frames": chosen.num_frames,
                  "height": chosen.height, "width": chosen.width, "track_grid": list(chosen.track_grid)}
        begin_split(out, split_header(self.name, grid, source, chosen.num_videos))
        done = finished_videos(out)
        if (out / MANIFEST_JSON).is_file() and all(s.video_id in done for s in specs):
            return out
        (out / MANIFEST_JSON).unlink(missing_ok=True)
        for spec in tqdm(specs, desc=f"make {self.name}", disable=not progress):
            if spec.video_id not in done:
                render_video(spec, out, progress=progress)
        finish_split(out, [s.video_id for s in specs])
        return out


SYNTHETIC = SyntheticSource(
    name="synthetic",
    description="10 procedurally rendered 60 s videos at 480x832 (indoor/outdoor x day/night) with exact depth, "
                "tracks and cameras",
    defaults=SyntheticParams(),
)

SYNTHETIC_MINI = SyntheticSource(
    name="synthetic-mini",
    description="3 short synthetic videos (3 clips, 241 frames) at 240x416, for smoke tests",
    defaults=SyntheticParams(num_videos=3, num_clips=3, height=240, width=416),
)
