"""``ActionMapping``: every threshold and scale that turns camera motion into keys and mouse moves.

Upstream never said how camera motion becomes actions (PROTOCOL.md section 5), so every number
that decides an action lives in this one frozen record, is documented here, and goes into the
fingerprint of every action-conditioned model (hence into every result's provenance). Change a
field and the fingerprint changes, so results made with different mappings are never mixed.

Conventions (OpenCV camera axes: x right, y down, z forward):
- translation is measured in the previous frame's camera axes, horizontally (x, z) only;
- yaw > 0 turns right (the view direction rotates towards +x), pitch > 0 looks up;
- speeds are in pose units per second times ``metres_per_pose_unit``. The synthetic split's
  cameras are metric; the builder's estimate (``longvgenbench.build.camera``) has the scale of its
  depth estimator, so for real footage set ``metres_per_pose_unit`` (or accept that the key
  threshold ``min_speed`` is in those units).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ActionMapping:
    """Thresholds and scales of the camera -> action mapping (recorded in every result).

    Keys (both models):
    - a movement key is pressed only while the horizontal speed is at least ``min_speed`` (m/s);
    - the heading h of the movement (angle from the camera's forward axis, positive to the right)
      picks the keys, with s = ``key_sector_deg``: forward when |h| < 90 - s, back when
      |h| > 90 + s, right when s < h < 180 - s, left when -180 + s < h < -s. With the default
      s = 22.5 these are eight 45-degree sectors: W alone within +-22.5 degrees, W+D from 22.5 to
      67.5, D alone from 67.5 to 112.5, and so on round the circle;
    - ``walk_speed`` (m/s) is speed level 1.0 (models with speed levels scale from it).

    Rotation:
    - yaw and pitch rates below ``min_rotation_deg_per_s`` are treated as zero (estimation noise);
    - Matrix-Game-2.0's mouse input is the per-frame change in (pitch, yaw) in radians times
      ``mouse_per_radian`` (an assumption: upstream's own demo turns with +-0.1 per frame, which is
      5.7 degrees per frame if the unit is radians; upstream does not document the unit), clipped
      to +-``mouse_limit``;
    - Hunyuan-GameCraft's rotation actions carry their angle in degrees over the action (its
      ``generate_motion_segment`` takes degrees), so rotations need no scale there.

    Smoothing: per-frame increments are averaged over a centred window of ``smoothing_frames``
    camera frames before any threshold (the builder's estimated cameras jitter frame to frame).

    Hunyuan-GameCraft takes ONE action per 33-frame chunk: the dominant motion of the chunk wins.
    Translation is scored as distance / (``walk_speed`` x chunk duration), rotation as the larger
    of |yaw| and |pitch| over the chunk divided by (``turn_rate_deg_per_s`` x chunk duration); a
    translation's speed value is metres x ``gamecraft_units_per_metre`` (default: walking speed over
    one 33-frame chunk at 25 fps gives upstream's default speed 0.2).
    """

    min_speed: float = 0.25
    walk_speed: float = 1.4
    key_sector_deg: float = 22.5
    metres_per_pose_unit: float = 1.0
    min_rotation_deg_per_s: float = 2.0
    mouse_per_radian: float = 1.0
    mouse_limit: float = 0.5
    smoothing_frames: int = 1
    turn_rate_deg_per_s: float = 30.0
    gamecraft_units_per_metre: float = 0.2 / (1.4 * 33 / 25.0)
    version: str = "1"

    def __post_init__(self) -> None:
        positive = {"walk_speed": self.walk_speed, "metres_per_pose_unit": self.metres_per_pose_unit,
                    "mouse_per_radian": self.mouse_per_radian, "mouse_limit": self.mouse_limit,
                    "turn_rate_deg_per_s": self.turn_rate_deg_per_s,
                    "gamecraft_units_per_metre": self.gamecraft_units_per_metre}
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"ActionMapping.{name} must be a positive number, got {value}")
        if not (0.0 <= self.min_speed < math.inf and 0.0 <= self.min_rotation_deg_per_s < math.inf):
            raise ValueError("ActionMapping thresholds min_speed and min_rotation_deg_per_s must be >= 0")
        if not 0.0 < self.key_sector_deg < 45.0:
            raise ValueError(f"ActionMapping.key_sector_deg must lie in (0, 45), got {self.key_sector_deg}")
        if self.smoothing_frames < 1 or self.smoothing_frames % 2 == 0:
            raise ValueError(f"ActionMapping.smoothing_frames must be odd and >= 1, got {self.smoothing_frames}")

    def as_dict(self) -> dict[str, float | int | str]:
        """JSON-ready fields, for fingerprints and result provenance."""
        return asdict(self)

    @classmethod
    def from_options(cls, options: dict[str, object] | None) -> ActionMapping:
        """An ActionMapping from a dict of field overrides (unknown fields are an error naming them)."""
        options = dict(options or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"ActionMapping has no fields {unknown}; known: {sorted(known)}")
        typed = {k: (int(v) if k == "smoothing_frames" else str(v) if k == "version" else float(v))
                 for k, v in options.items()}
        return cls(**typed)


DEFAULT_MAPPING = ActionMapping()
