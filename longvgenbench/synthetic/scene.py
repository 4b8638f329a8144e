"""Procedural scenes: a room or open ground, textured boxes and spheres, some of them moving.

A scene is plain data (frozen dataclasses), drawn from one ``numpy`` generator, so the same seed
always gives the same scene; ``raycast.py`` only ever sees the packed arrays made here. The
camera path is planned first and objects are placed around it, so the camera never walks through
an object and a moving object never runs into the camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from longvgenbench.synthetic.camera_path import CameraTrajectory, WalkStyle, min_distance_to_path, plan_trajectory
from longvgenbench.synthetic.raycast import (
    BG_OUTDOOR,
    BG_ROOM,
    FIRST_OBJECT_ID,
    ID_CEILING,
    ID_FLOOR,
    ID_SKY,
    ID_WALL,
    LIGHT_SIZE,
    MAT_COLUMNS,
    TEX_CHECKER,
    TEX_NOISE,
    TEX_STRIPES,
)

# Linear RGB albedos, named so that captions can say what is seen.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.70, 0.10, 0.08), "orange": (0.85, 0.40, 0.05), "yellow": (0.85, 0.75, 0.10),
    "green": (0.15, 0.55, 0.15), "dark green": (0.08, 0.25, 0.06), "teal": (0.05, 0.50, 0.50),
    "blue": (0.10, 0.20, 0.75), "light blue": (0.45, 0.60, 0.85), "purple": (0.40, 0.15, 0.60),
    "pink": (0.85, 0.40, 0.55), "white": (0.85, 0.85, 0.85), "grey": (0.40, 0.40, 0.42),
    "dark grey": (0.12, 0.12, 0.13), "brown": (0.35, 0.20, 0.10), "beige": (0.75, 0.65, 0.50),
    "brick red": (0.50, 0.18, 0.12),
}
OBJECT_COLOURS = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "white")
PATTERN_WORDS = {TEX_CHECKER: "checkered", TEX_STRIPES: "striped", TEX_NOISE: "mottled"}


@dataclass(frozen=True)
class Material:
    pattern: int  # TEX_CHECKER | TEX_STRIPES | TEX_NOISE
    scale: float  # size of one texture cell, metres
    colour: str
    second_colour: str
    seed: int

    def row(self) -> np.ndarray:
        return np.array([self.pattern, self.scale, *PALETTE[self.colour], *PALETTE[self.second_colour], self.seed])

    def words(self) -> str:
        return f"{self.colour} and {self.second_colour} {PATTERN_WORDS[self.pattern]}"


@dataclass(frozen=True)
class Motion:
    """Smooth back-and-forth motion on the ground plane: offset(t) = A (sin(w t + phi) - sin(phi)) per axis."""

    amplitude: tuple[float, float]  # x, z metres
    frequency: tuple[float, float]  # rad/s
    phase: tuple[float, float]

    def offsets(self, times: np.ndarray) -> np.ndarray:
        out = np.zeros((len(times), 3))
        for col, axis in ((0, 0), (2, 1)):
            out[:, col] = self.amplitude[axis] * (np.sin(self.frequency[axis] * times + self.phase[axis])
                                                  - math.sin(self.phase[axis]))
        return out


@dataclass(frozen=True)
class SceneObject:
    shape: str  # "box" | "sphere"
    centre: tuple[float, float, float]  # at time 0
    half_size: tuple[float, float, float]  # box half extents; a sphere has (r, r, r)
    material: Material
    label: str  # "box", "building", "ball", ...
    motion: Motion | None = None

    def words(self) -> str:
        moving = " moving back and forth" if self.motion is not None else ""
        text = f"{self.material.words()} {self.label}{moving}"
        return ("an " if text[0] in "aeiou" else "a ") + text


@dataclass(frozen=True)
class Lamp:
    position: tuple[float, float, float]
    colour: tuple[float, float, float]
    radius: float  # distance at which the light has fallen to half


@dataclass(frozen=True)
class Lighting:
    ambient: tuple[float, float, float]
    sun_direction: tuple[float, float, float]  # unit, towards the sun (or moon)
    sun_colour: tuple[float, float, float]
    fog_colour: tuple[float, float, float]
    fog_density: float  # 1/m
    sky_horizon: tuple[float, float, float]
    sky_zenith: tuple[float, float, float]
    clouds: float
    headlamp: Lamp | None  # position relative to the camera centre
    lamps: tuple[Lamp, ...] = ()

    def pack(self) -> np.ndarray:
        out = np.array([*self.ambient, *self.sun_direction, *self.sun_colour, *self.fog_colour, self.fog_density,
                        *self.sky_horizon, *self.sky_zenith, self.clouds], dtype=np.float64)
        assert out.shape == (LIGHT_SIZE,)
        return out

    def lamp_array(self, camera_position: np.ndarray) -> np.ndarray:
        """(NL, 7) rows of position, colour, 1 / radius^2 (the ray caster's layout)."""
        rows = [[*lamp.position, *lamp.colour, lamp.radius**-2] for lamp in self.lamps]
        if self.headlamp is not None:
            rows.append([*(camera_position + np.array(self.headlamp.position)), *self.headlamp.colour,
                         self.headlamp.radius**-2])
        return np.array(rows, dtype=np.float64).reshape(-1, 7)


@dataclass(frozen=True, eq=False)
class FrameArrays:
    """What the ray caster needs of the scene at one instant."""

    boxes: np.ndarray  # (NB, 6) min xyz, max xyz
    spheres: np.ndarray  # (NS, 4) centre, radius
    offsets: np.ndarray  # (NP, 3) translation of each primitive since time 0 (texture coordinates follow it)


@dataclass(frozen=True)
class Scene:
    setting: str  # "indoor" | "outdoor"
    lighting_name: str  # "day" | "night"
    background: int  # BG_ROOM | BG_OUTDOOR
    background_params: tuple[float, ...]  # room box (min xyz, max xyz) or sky dome (centre xyz, radius)
    floor: Material
    wall: Material
    ceiling: Material
    objects: tuple[SceneObject, ...]  # boxes first, then spheres (primitive ids follow this order)
    lighting: Lighting

    @property
    def boxes(self) -> tuple[SceneObject, ...]:
        return tuple(o for o in self.objects if o.shape == "box")

    @property
    def spheres(self) -> tuple[SceneObject, ...]:
        return tuple(o for o in self.objects if o.shape == "sphere")

    @property
    def num_primitives(self) -> int:
        return FIRST_OBJECT_ID + len(self.objects)

    def object_of(self, primitive_id: int) -> SceneObject | None:
        return self.objects[primitive_id - FIRST_OBJECT_ID] if primitive_id >= FIRST_OBJECT_ID else None

    def materials(self) -> np.ndarray:
        rows = np.zeros((self.num_primitives, MAT_COLUMNS))
        rows[ID_FLOOR], rows[ID_WALL], rows[ID_CEILING] = self.floor.row(), self.wall.row(), self.ceiling.row()
        rows[ID_SKY] = self.ceiling.row()  # never textured; shaded by direction
        for i, obj in enumerate(self.objects):
            rows[FIRST_OBJECT_ID + i] = obj.material.row()
        return rows

    def offsets(self, times: np.ndarray) -> np.ndarray:
        """(T, NP, 3) translation of every primitive at ``times`` relative to time 0."""
        out = np.zeros((len(times), self.num_primitives, 3))
        for i, obj in enumerate(self.objects):
            if obj.motion is not None:
                out[:, FIRST_OBJECT_ID + i] = obj.motion.offsets(times)
        return out

    def frame_arrays(self, offsets: np.ndarray) -> FrameArrays:
        """Packed geometry for one instant given its (NP, 3) ``offsets``."""
        boxes, spheres = [], []
        for i, obj in enumerate(self.objects):
            c = np.array(obj.centre) + offsets[FIRST_OBJECT_ID + i]
            h = np.array(obj.half_size)
            if obj.shape == "box":
                boxes.append(np.concatenate([c - h, c + h]))
            else:
                spheres.append(np.concatenate([c, h[:1]]))
        return FrameArrays(np.array(boxes, dtype=np.float64).reshape(-1, 6),
                           np.array(spheres, dtype=np.float64).reshape(-1, 4), offsets)


def _material(rng: np.random.Generator, patterns: tuple[int, ...], colours: tuple[str, ...],
              second: tuple[str, ...], scale: tuple[float, float]) -> Material:
    pattern, size, colour = int(rng.choice(patterns)), float(rng.uniform(*scale)), str(rng.choice(colours))
    others = [c for c in second if c != colour]
    return Material(pattern, size, colour, str(rng.choice(others)), int(rng.integers(0, 2**20)))


def _object_material(rng: np.random.Generator, scale: tuple[float, float]) -> Material:
    return _material(rng, (TEX_CHECKER, TEX_STRIPES, TEX_NOISE), OBJECT_COLOURS, ("white", "dark grey"), scale)


def _place(rng: np.random.Generator, trajectory: CameraTrajectory, region: tuple[float, float, float, float],
           radius: float, clearance: float, tries: int = 40) -> np.ndarray | None:
    """A random xz point in ``region`` at least ``radius + clearance`` from the camera path, or None."""
    xmin, zmin, xmax, zmax = region
    candidates = np.stack([rng.uniform(xmin, xmax, tries), rng.uniform(zmin, zmax, tries)], axis=-1)
    ok = min_distance_to_path(candidates, trajectory) >= radius + clearance
    return candidates[int(np.argmax(ok))] if ok.any() else None


def _moving(rng: np.random.Generator, trajectory: CameraTrajectory, fps: float,
            region: tuple[float, float, float, float], radius: float, height: float, amplitude: tuple[float, float],
            speed: tuple[float, float]) -> tuple[np.ndarray, Motion] | None:
    """A start point and a motion that keep a moving object inside ``region`` and off the camera."""
    times = np.arange(trajectory.num_frames) / fps
    cams = trajectory.positions
    xmin, zmin, xmax, zmax = region
    for _ in range(30):
        amp = rng.uniform(*amplitude, 2)
        freq = rng.uniform(*speed, 2) / amp
        motion = Motion((float(amp[0]), float(amp[1])), (float(freq[0]), float(freq[1])),
                        (float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))))
        start = np.array([rng.uniform(xmin, xmax), height, rng.uniform(zmin, zmax)])
        path = start + motion.offsets(times)
        inside = ((path[:, 0] > xmin) & (path[:, 0] < xmax) & (path[:, 2] > zmin) & (path[:, 2] < zmax)).all()
        if inside and np.linalg.norm(path - cams, axis=1).min() > radius + 1.0:
            return start, motion
    return None


def _indoor(rng: np.random.Generator, night: bool, num_frames: int, fps: float, height: int, width: int
            ) -> tuple[Scene, CameraTrajectory]:
    size_x, size_z, ceiling = rng.uniform(16, 24), rng.uniform(12, 18), rng.uniform(2.8, 3.8)
    style = WalkStyle(speed=float(rng.uniform(0.8, 1.2)), eye_height=1.6, step=(3.5, 6.0), max_turn_deg=40,
                      look_ahead=2.5, sway_deg=8, sway_period=12, yaw_smoothing=2.0)
    trajectory = plan_trajectory(rng, (1.6, 1.6, size_x - 1.6, size_z - 1.6), num_frames, fps, height, width, style)
    region = (0.3, 0.3, size_x - 0.3, size_z - 0.3)
    boxes, spheres = [], []
    for _ in range(int(rng.integers(4, 8))):
        half = (rng.uniform(0.2, 0.8), rng.uniform(0.2, 1.0), rng.uniform(0.2, 0.8))
        at = _place(rng, trajectory, region, math.hypot(half[0], half[2]), 0.6)
        if at is not None:
            boxes.append(SceneObject("box", (at[0], half[1], at[1]), half, _object_material(rng, (0.15, 0.4)),
                                     str(rng.choice(["box", "cabinet", "crate"]))))
    for _ in range(int(rng.integers(1, 4))):
        r = rng.uniform(0.2, 0.6)
        at = _place(rng, trajectory, region, r, 0.6)
        if at is not None:
            spheres.append(SceneObject("sphere", (at[0], r, at[1]), (r, r, r), _object_material(rng, (0.1, 0.3)),
                                       "ball"))
    for _ in range(int(rng.integers(1, 3))):
        r = rng.uniform(0.2, 0.45)
        found = _moving(rng, trajectory, fps, (0.5, 0.5, size_x - 0.5, size_z - 0.5), r, r, (0.5, 2.5), (0.3, 1.2))
        if found is not None:
            spheres.append(SceneObject("sphere", tuple(found[0]), (r, r, r), _object_material(rng, (0.1, 0.25)),
                                       "ball", found[1]))
    floor = _material(rng, (TEX_CHECKER,), ("white", "beige", "grey"), ("dark grey", "brown"), (0.5, 1.0))
    wall = _material(rng, (TEX_STRIPES, TEX_NOISE), ("beige", "light blue", "white", "green"), ("grey", "brown"),
                     (0.3, 1.2))
    ceiling_mat = _material(rng, (TEX_NOISE,), ("white",), ("beige",), (0.8, 1.5))
    if night:
        lamps = tuple(Lamp((rng.uniform(2, size_x - 2), ceiling - 0.3, rng.uniform(2, size_z - 2)), (0.6, 0.45, 0.27),
                           2.0) for _ in range(2))
        headlamp = Lamp((0.0, 0.25, 0.0), (0.45, 0.42, 0.35), 2.5)
        lighting = Lighting((0.008, 0.010, 0.020), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0), (0.01, 0.01, 0.02), 0.02,
                            (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0, headlamp, lamps)
    else:
        sun = np.array([rng.uniform(-0.5, 0.5), 0.8, rng.uniform(-0.5, 0.5)])
        lighting = Lighting((0.30, 0.30, 0.33), tuple(sun / np.linalg.norm(sun)), (0.65, 0.62, 0.55),
                            (0.6, 0.6, 0.62), 0.01, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0, None)
    scene = Scene("indoor", "night" if night else "day", BG_ROOM, (0.0, 0.0, 0.0, size_x, ceiling, size_z), floor,
                  wall, ceiling_mat, tuple(boxes + spheres), lighting)
    return scene, trajectory


def _outdoor(rng: np.random.Generator, night: bool, num_frames: int, fps: float, height: int, width: int
             ) -> tuple[Scene, CameraTrajectory]:
    side = rng.uniform(90, 140)
    style = WalkStyle(speed=float(rng.uniform(1.5, 4.5)), eye_height=1.7, step=(8, 16), max_turn_deg=35,
                      look_ahead=6, sway_deg=8, sway_period=16)
    trajectory = plan_trajectory(rng, (10, 10, side - 10, side - 10), num_frames, fps, height, width, style)
    boxes, spheres = [], []
    for _ in range(int(rng.integers(10, 17))):
        half = (rng.uniform(3, 9), rng.uniform(3, 12), rng.uniform(3, 9))
        at = _place(rng, trajectory, (-30, -30, side + 30, side + 30), math.hypot(half[0], half[2]), 2.5)
        if at is not None:
            mat = _material(rng, (TEX_STRIPES, TEX_NOISE, TEX_CHECKER), ("grey", "beige", "brick red", "white"),
                            ("dark grey", "brown"), (1.5, 3.5))
            boxes.append(SceneObject("box", (at[0], half[1], at[1]), half, mat, "building"))
    for _ in range(int(rng.integers(4, 9))):
        half = (rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2))
        at = _place(rng, trajectory, (0, 0, side, side), math.hypot(half[0], half[2]), 1.5)
        if at is not None:
            boxes.append(SceneObject("box", (at[0], half[1], at[1]), half, _object_material(rng, (0.2, 0.6)),
                                     str(rng.choice(["box", "crate", "block"]))))
    for _ in range(int(rng.integers(0, 2))):
        half = (0.9, 0.75, 0.9)
        found = _moving(rng, trajectory, fps, (0, 0, side, side), 1.3, half[1], (4.0, 12.0), (1.5, 5.0))
        if found is not None:
            boxes.append(SceneObject("box", tuple(found[0]), half, _object_material(rng, (0.3, 0.6)), "cart",
                                     found[1]))
    for _ in range(int(rng.integers(2, 5))):
        r = rng.uniform(0.3, 1.2)
        at = _place(rng, trajectory, (0, 0, side, side), r, 1.5)
        if at is not None:
            spheres.append(SceneObject("sphere", (at[0], r, at[1]), (r, r, r), _object_material(rng, (0.15, 0.5)),
                                       "ball"))
    for _ in range(int(rng.integers(1, 3))):
        r = rng.uniform(0.3, 0.8)
        found = _moving(rng, trajectory, fps, (0, 0, side, side), r, r, (2.0, 8.0), (1.0, 3.5))
        if found is not None:
            spheres.append(SceneObject("sphere", tuple(found[0]), (r, r, r), _object_material(rng, (0.15, 0.4)),
                                       "ball", found[1]))
    ground = _material(rng, (TEX_NOISE, TEX_CHECKER), ("green", "grey", "beige"), ("dark green", "dark grey"),
                       (1.0, 2.5))
    dome = (side / 2, 0.0, side / 2, side * 0.75 + 300.0)
    if night:
        lamps = []
        for _ in range(int(rng.integers(3, 6))):
            p = trajectory.positions[int(rng.integers(0, trajectory.num_frames))]
            lamps.append(Lamp((p[0] + rng.uniform(-5, 5), 5.0, p[2] + rng.uniform(-5, 5)), (1.0, 0.6, 0.25), 5.0))
        headlamp = Lamp((0.0, 0.3, 0.0), (0.6, 0.57, 0.48), 5.0)
        lighting = Lighting((0.006, 0.008, 0.018), (0.3, 0.8, 0.2), (0.03, 0.035, 0.06), (0.01, 0.012, 0.025), 0.012,
                            (0.02, 0.025, 0.05), (0.0, 0.003, 0.015), 0.15, headlamp, tuple(lamps))
    else:
        elevation, azimuth = rng.uniform(0.4, 1.1), rng.uniform(0, 2 * math.pi)
        sun = (math.cos(elevation) * math.cos(azimuth), math.sin(elevation), math.cos(elevation) * math.sin(azimuth))
        lighting = Lighting((0.28, 0.31, 0.38), sun, (0.9, 0.85, 0.75), (0.62, 0.70, 0.80), 0.004,
                            (0.62, 0.70, 0.80), (0.15, 0.30, 0.75), 0.8, None)
    scene = Scene("outdoor", "night" if night else "day", BG_OUTDOOR, dome, ground, ground, ground,
                  tuple(boxes + spheres), lighting)
    return scene, trajectory


def build_scene(rng: np.random.Generator, setting: str, lighting: str, num_frames: int, fps: float, height: int,
                width: int) -> tuple[Scene, CameraTrajectory]:
    """A scene and its camera trajectory, all drawn from ``rng`` (deterministic for a given seed)."""
    if setting not in ("indoor", "outdoor") or lighting not in ("day", "night"):
        raise ValueError(f"setting must be indoor|outdoor and lighting day|night, got {setting!r}, {lighting!r}")
    make = _indoor if setting == "indoor" else _outdoor
    return make(rng, lighting == "night", num_frames, fps, height, width)
