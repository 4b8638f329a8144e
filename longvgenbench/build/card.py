"""The dataset card of a built split: README.md with the Hugging Face Hub's YAML metadata block.

Why generated: a split published on the Hub must say where its videos came from and under which
licences, what the categories are, how many videos and clips it has and which protocol (grid,
normalisation, estimators) made its controls. All of that is known at the end of a build, so the
card is written from the same records as the dataset and listed in the manifest.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from longvgenbench.atomic import write_text
from longvgenbench.build.cutting import SourceOutcome
from longvgenbench.splits.store import read_video_entry

if TYPE_CHECKING:
    from longvgenbench.build.pipeline import BuildSettings

CARD = "README.md"


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def card_licence(licences: list[str]) -> str:
    """The Hub's ``license`` field: the one licence all sources share (lower-case id), else ``other``."""
    distinct = {lic.strip().lower() for lic in licences if lic.strip()}
    return distinct.pop() if len(distinct) == 1 and len(licences) == sum(1 for x in licences if x.strip()) \
        else "other"


def render_card(root: Path, settings: BuildSettings, outcomes: list[SourceOutcome]) -> str:
    used = [o for o in outcomes if o.status == "ok"]
    entries = [read_video_entry(root, st.video_id) for o in used for st in o.stretches]
    clips = sum(len(e.clips) for e in entries)
    grid = settings.cut.grid
    categories = Counter(f"{e.category.domain}/{e.category.setting}/{e.category.lighting}" for e in entries)
    licence = card_licence([o.source.licence for o in used])
    estimators = {c.kind: c.name for c in settings.controls.choices()}
    yaml = [
        "---",
        f"license: {licence}",
        f"pretty_name: {json.dumps(settings.name + ' (LongVGenBench protocol)')}",
        "task_categories:",
        "- image-to-video",
        "- text-to-video",
        "tags:",
        "- longvgenbench",
        "- long-video",
        "- controllable-video-generation",
        "- depth",
        "- point-tracking",
        *[f"- {c.replace('/', '-')}" for c in sorted(categories)],
        "size_categories:",
        f"- {_size_category(clips)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: test",
        "    path: dataset/*.arrow",
        "---",
    ]
    body = [
        f"# {settings.name}",
        "",
        f"A LongVGenBench-protocol split built with `longvgenbench build`: {len(entries)} single-shot video(s) "
        f"from {len(used)} source(s), {clips} clip(s) of {grid.clip_frames} frames (stride {grid.stride}) at "
        f"{grid.fps:g} fps, {grid.height}x{grid.width} (HxW, center crop + resize).",
        "",
        "## Protocol",
        "",
        f"- Shots: PySceneDetect ContentDetector, threshold {settings.cut.threshold:g}; single-shot stretches of at "
        f"least {settings.cut.min_seconds:g} s are kept.",
        "- Resampled to the grid by timestamps (sample-and-hold), rotation metadata applied.",
        "- Depth: " + (f"`{estimators['depth']}` over the whole video, raw disparity-like values kept "
                       f"(`depth_raw.npy`, float16), global p5/p95 normalisation, near = black."
                       if "depth" in estimators else "none (built with `--depth none`)."),
        "- Tracks: " + (f"`{estimators['tracks']}`, a {settings.controls.track_grid[0]}x"
                        f"{settings.controls.track_grid[1]} query grid on each clip's frame 0; render: black "
                        f"background, R = x, G = y, B = " + ("normalised frame-0 disparity (near = 1)"
                                                             if "depth" in estimators else "0 (no depth)")
                        if "tracks" in estimators else "none."),
        "- Camera: " + (f"`{estimators['camera']}` (relative poses per clip, frame 0 = identity, scale of the "
                        f"depth estimator)" if "camera" in estimators else "none."),
        "- Captions: " + (f"`{estimators['captions']}`" if "captions" in estimators else "none (empty strings)."),
        "",
        "## Categories",
        "",
        "| domain/setting/lighting | videos |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(categories.items())],
        "",
        "## Sources",
        "",
        "| source | videos | licence | url |",
        "|---|---|---|---|",
        *[f"| {o.source.source_id} | {len(o.stretches)} | {o.source.licence or 'unknown'} | {o.source.url or ''} |"
          for o in used],
        "",
        "## Use",
        "",
        "```python",
        "from longvgenbench.splits.api import load_split",
        "split = load_split('path/to/this/folder')  # verifies the sha256 of every file against manifest.json",
        "```",
        "",
        "Layout: `split.json`, `manifest.json` (sha256 of every file), `dataset/` (one row per clip), "
        "`videos/<video_id>/` (ground_truth.mp4, first_frame.png, video.json, clips/NNN/...).",
        "",
    ]
    return "\n".join([*yaml, "", *body])


def write_card(root: Path, settings: BuildSettings, outcomes: list[SourceOutcome]) -> Path:
    path = root / CARD
    write_text(path, render_card(root, settings, outcomes))
    return path
