"""Captions of synthetic clips, written from the scene's own parameters (no captioning model).

Why: captions must be deterministic and true. Everything said is measured from the scene: which
objects cover enough pixels of the clip (from the renderer's per-primitive pixel counts), their
colours and patterns, and the camera motion from the clip's own poses.
"""

from __future__ import annotations

import math

import numpy as np

from longvgenbench.synthetic.camera_path import CameraTrajectory
from longvgenbench.synthetic.raycast import FIRST_OBJECT_ID, ID_SKY
from longvgenbench.synthetic.scene import Scene

MIN_COVERAGE = 0.004  # an object must cover 0.4% of the clip's pixels to be mentioned
MAX_OBJECTS = 5


def camera_motion_words(trajectory: CameraTrajectory, start: int, stop: int, fps: float) -> str:
    """E.g. "The camera moves steadily forward about 6 metres and turns left by about 35 degrees."."""
    poses = trajectory.world_to_camera[start:stop]
    positions = trajectory.positions[start:stop]
    rot0 = poses[0, :3, :3]
    shift = rot0 @ (positions[-1] - positions[0])  # in the first camera's axes: x right, z forward
    forward_end = rot0 @ poses[-1, 2, :3]
    yaw = math.degrees(math.atan2(forward_end[0], forward_end[2]))  # > 0: turned right
    distance = float(np.linalg.norm(positions[-1] - positions[0]))
    seconds = max((stop - start - 1) / fps, 1e-9)
    speed = distance / seconds
    pace = "slowly" if speed < 1.0 else "steadily" if speed < 2.5 else "quickly"

    moves = []
    if abs(shift[2]) >= 0.3:
        moves.append("forward" if shift[2] > 0 else "backward")
    if abs(shift[0]) >= 0.3 and abs(shift[0]) > 0.5 * abs(shift[2]):
        moves.append("to the right" if shift[0] > 0 else "to the left")
    if moves:
        motion = f"The camera moves {pace} {' and '.join(moves)} about {distance:.0f} metres"
    else:
        motion = "The camera stays almost in place"
    side = "right" if yaw > 0 else "left"
    if abs(yaw) >= 10:
        turn = f" and turns {side} by about {abs(yaw):.0f} degrees"
    elif abs(yaw) >= 4:
        turn = f" and turns slightly {side}"
    else:
        turn = " and keeps its heading"
    return motion + turn + "."


def _setting_sentence(scene: Scene) -> str:
    if scene.setting == "indoor":
        light = ("in soft daylight" if scene.lighting_name == "day"
                 else "at night, lit by warm ceiling lamps and a light carried by the camera")
        return (f"A walk through a large empty room {light}, with a {scene.floor.words()} tiled floor, "
                f"{scene.wall.words()} walls and a plain ceiling.")
    light = ("on a sunny day under a blue sky with clouds" if scene.lighting_name == "day"
             else "at night under a dark sky, lit by orange street lamps and a light carried by the camera")
    return f"A journey across open {scene.floor.words()} ground {light}."


def clip_caption(scene: Scene, trajectory: CameraTrajectory, coverage: np.ndarray, start: int, stop: int,
                 fps: float) -> str:
    """A few deterministic sentences for frames ``[start, stop)``; ``coverage`` is (T_video, NP) pixel counts."""
    counts = coverage[start:stop].sum(axis=0).astype(np.float64)
    fractions = counts / max(counts.sum(), 1.0)
    sentences = [_setting_sentence(scene)]
    ids = [i for i in np.argsort(-fractions, kind="stable") if i >= FIRST_OBJECT_ID and fractions[i] >= MIN_COVERAGE]
    seen = [scene.object_of(int(i)) for i in ids]
    buildings = [o for o in seen if o is not None and o.label == "building"]
    others = [o for o in seen if o is not None and o.label != "building"][:MAX_OBJECTS]
    if others:
        listed = [o.words() for o in others]
        text = listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
        sentences.append(f"In view: {text}.")
    if buildings:
        count = "a building" if len(buildings) == 1 else f"{len(buildings)} large box-shaped buildings"
        colours = sorted({b.material.colour for b in buildings})
        listed = colours[0] if len(colours) == 1 else ", ".join(colours[:-1]) + " and " + colours[-1]
        sentences.append(f"Along the way stand{'s' if len(buildings) == 1 else ''} {count} in {listed}.")
    if scene.setting == "outdoor" and fractions[ID_SKY] > 0.2:
        sentences.append("The sky fills much of the upper frame.")
    sentences.append(camera_motion_words(trajectory, start, stop, fps))
    return " ".join(sentences)
