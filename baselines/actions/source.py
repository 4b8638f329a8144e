"""Where a clip's camera comes from: the segment's ``camera.npz`` control (exact in the synthetic
split, estimated by the builder for real footage; ``longvgenbench.controls`` has the format)."""

from __future__ import annotations

from baselines.actions.motion import CameraMotion, motion_from_poses
from longvgenbench.controls import load_camera
from longvgenbench.errors import ControlError
from longvgenbench.records import Segment, VideoSample


def segment_motion(sample: VideoSample, segment: Segment) -> CameraMotion:
    """The camera motion of one segment at the sample's fps; a clear error if the split has no cameras."""
    path = segment.controls.camera
    if path is None:
        raise ControlError(f"{sample.split}/{sample.video_id}/segment {segment.index}",
                           "has no camera control; action-conditioned models (matrix-game-2, hunyuan-gamecraft) "
                           "turn the clip's camera motion into actions: build the split with a camera estimator "
                           "(`longvgenbench build ... --camera estimate`) or use the synthetic split")
    camera = load_camera(path, expected_frames=segment.num_frames)
    return motion_from_poses(camera.world_to_camera, sample.fps)
