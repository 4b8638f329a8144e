"""VBench's dynamic degree, per 81-frame clip, with torchvision's RAFT-large (the "things" weights).

The definition, as in VBench 0.1.5 (``vbench/dynamic_degree.py``):

- frames: every ``max(1, round(fps / 8))``-th frame of the clip (Python's ``round``: 16 fps -> 2,
  i.e. 41 of 81 frames), at native resolution;
- each consecutive pair of sampled frames: replicate-padded on all sides to a multiple of 8 (RAFT's
  "sintel" padding, split evenly), scaled to [-1, 1], RAFT with 20 refinement iterations; the pair's
  score is the mean of the largest 5% of the flow magnitudes over the *padded* flow field (VBench
  never unpads it), ``int(0.05 * H_pad * W_pad)`` values;
- ``thres = 6.0 * min(H, W) / 256`` and ``count_num = round(4 * N / 16)`` with N the number of
  *sampled frames* (not pairs);
- the clip is dynamic (1.0) when at least ``count_num`` pair scores are strictly above ``thres``
  and there is at least one pair; else 0.0. The per-video mean is the fraction of dynamic clips.

Weights: torchvision's ``Raft_Large_Weights.C_T_V1`` file from torch hub's cache (ported by
torchvision from the same checkpoint VBench loads); if only VBench's original ``raft-things.pth``
is present it is converted to torchvision's layout on load (:func:`raft_things_to_torchvision`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from evaluators._frames import check_frames, clip_label, frames_source
from evaluators.vbench import catalog_motion, raft_pairs
from evaluators.vbench.catalog_motion import RAFT_LARGE_C_T_V1, RAFT_THINGS
from evaluators.vbench.checkpointed import CheckpointClipEvaluator
from evaluators.vbench.common import as_device_uint8
from evaluators.vbench.window_lookup import RAFT_LOOKUP_CHOICES, check_lookup
from longvgenbench.errors import VideoError, WeightsUnavailableError
from longvgenbench.evaluation.api import ClipView, Level, MetricSpec
from longvgenbench.weights import WeightFile

RAFT_ITERATIONS = 20
# RAFT's 4-level correlation pyramid needs feature maps (1/8 of the padded frame) of >= 16 cells a side;
# torchvision raises a bare ValueError below that, VBench's own RAFT returns NaN flows.
RAFT_MIN_PADDED_SIDE = 128
TOP_FRACTION = 0.05
# one pair's correlation entry: the half-precision volume (2 bytes) and its fp32 pyramid (4 x 4/3 bytes)
RAFT_VOLUME_BYTES_PER_ENTRY = 2 + 4 * 4 / 3
THRESHOLD_PER_256_PX = 6.0
# A run of one pair would specialise the compiled RAFT (compiled for any number of pairs) to a batch of one: a second
# compile of about a minute. A static clip's last run may therefore hold one pair more than its decision needs.
MIN_RUN_PAIRS = 2

# Original RAFT names (princeton-vl, as in raft-things.pth) -> torchvision's RAFT names.
_ENCODER_RULES: tuple[tuple[str, str], ...] = (
    (r"conv1\.", "convnormrelu.0."),
    (r"norm1\.", "convnormrelu.1."),
    (r"conv2\.", "conv."),
    (r"(layer\d\.\d)\.conv1\.", r"\1.convnormrelu1.0."),
    (r"(layer\d\.\d)\.norm1\.", r"\1.convnormrelu1.1."),
    (r"(layer\d\.\d)\.conv2\.", r"\1.convnormrelu2.0."),
    (r"(layer\d\.\d)\.norm2\.", r"\1.convnormrelu2.1."),
    (r"(layer\d\.\d)\.downsample\.(\d)\.", r"\1.downsample.\2."),
)
_UPDATE_RULES: tuple[tuple[str, str], ...] = (
    (r"update_block\.encoder\.convc(\d)\.", r"update_block.motion_encoder.convcorr\1.0."),
    (r"update_block\.encoder\.convf(\d)\.", r"update_block.motion_encoder.convflow\1.0."),
    (r"update_block\.encoder\.conv\.", "update_block.motion_encoder.conv.0."),
    (r"update_block\.gru\.conv([zrq])(\d)\.", r"update_block.recurrent_block.convgru\2.conv\1."),
    (r"update_block\.flow_head\.", "update_block.flow_head."),
    (r"update_block\.mask\.0\.", "mask_predictor.convrelu.0."),
    (r"update_block\.mask\.2\.", "mask_predictor.conv."),
)
_ENCODERS = {"fnet": "feature_encoder", "cnet": "context_encoder"}


def raft_things_to_torchvision(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an original-layout RAFT-large state dict (``raft-things.pth``) to torchvision's ``raft_large``.

    The original keeps the stride-2 blocks' norm twice (``norm3`` and ``downsample.1`` are one
    module); torchvision keeps it once, so ``norm3`` is dropped. Unknown keys raise, so a file of
    another architecture is never half-loaded.
    """
    converted: dict[str, torch.Tensor] = {}
    for raw_key, tensor in state.items():
        key = raw_key.removeprefix("module.")
        head, _, rest = key.partition(".")
        new_key = None
        if head in _ENCODERS:
            if re.match(r"layer\d\.\d\.norm3\.", rest):
                continue
            for pattern, template in _ENCODER_RULES:
                if re.match(pattern + r"(weight|bias|running_mean|running_var|num_batches_tracked)$", rest):
                    new_key = f"{_ENCODERS[head]}." + re.sub("^" + pattern, template, rest)
                    break
        else:
            for pattern, template in _UPDATE_RULES:
                if re.match(pattern, key):
                    new_key = re.sub("^" + pattern, template, key)
                    break
        if new_key is None:
            raise KeyError(f"unexpected RAFT key {raw_key!r}: not an original RAFT-large checkpoint")
        converted[new_key] = tensor
    return converted


def sampling_interval(fps: float) -> int:
    """VBench's frame step: ``max(1, round(fps / 8))`` with Python's round-half-to-even."""
    return max(1, round(fps / 8))


def threshold(height: int, width: int) -> float:
    return THRESHOLD_PER_256_PX * min(height, width) / 256.0


def required_count(num_sampled_frames: int) -> int:
    """How many pair scores must exceed the threshold: ``round(4 * N / 16)``, N = sampled frames."""
    return round(4 * (num_sampled_frames / 16.0))


def is_dynamic(pair_scores: np.ndarray, num_sampled_frames: int, thres: float) -> bool:
    """VBench's ``check_move``: at least ``required_count`` scores strictly above ``thres``, and any pair at all."""
    if len(pair_scores) == 0:
        return False
    return int(np.count_nonzero(np.asarray(pair_scores) > thres)) >= required_count(num_sampled_frames)


def pairs_before_settled(needed: int, above: int, remaining: int) -> int:
    """How many more pairs must be scored, at least, before a clip's decision can be settled.

    With ``above`` of the ``needed`` pairs found and ``remaining`` pairs left, the clip turns dynamic no sooner than
    after ``needed - above`` more pairs (all above) and static no sooner than after ``remaining - (needed - above) + 1``
    (all below). A run of at most this many pairs therefore never computes a pair past the one that settles the
    decision: a moving protocol clip (10 of 40 pairs needed) runs 10 pairs, not the 16 of two fixed runs of 8.
    """
    to_dynamic = needed - above
    return max(1, min(to_dynamic, remaining - to_dynamic + 1, remaining))


def run_pairs(cap: int, wanted: int) -> int:
    """Pairs in the next RAFT forward: ``wanted`` but at least :data:`MIN_RUN_PAIRS` and at most ``cap``."""
    return min(cap, max(MIN_RUN_PAIRS, wanted))


def sintel_padding(height: int, width: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) replicate padding to multiples of 8, split evenly like RAFT's InputPadder."""
    pad_h = (8 - height % 8) % 8
    pad_w = (8 - width % 8) % 8
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def check_raft_size(height: int, width: int, label: str) -> None:
    """Refuse, by name, frames too small for RAFT: both sides padded to multiples of 8 must be >= 128 px."""
    left, right, top, bottom = sintel_padding(height, width)
    if min(height + top + bottom, width + left + right) < RAFT_MIN_PADDED_SIDE:
        raise VideoError(label, f"dynamic_degree cannot score {height}x{width} frames: RAFT needs both sides >= "
                                f"{RAFT_MIN_PADDED_SIDE - 7} px (>= {RAFT_MIN_PADDED_SIDE} once padded to multiples "
                                f"of 8); evaluate at a larger size or leave dynamic_degree out (-e ...)")


def top_magnitude_mean(flow: torch.Tensor) -> torch.Tensor:
    """(B, 2, H, W) flow -> (B,) mean of the largest ``int(0.05 * H * W)`` magnitudes, in fp32."""
    return raft_pairs.top_magnitude_mean(flow, TOP_FRACTION)


class DynamicDegreeEvaluator(CheckpointClipEvaluator):
    """VBench dynamic degree per clip (1.0 dynamic / 0.0 static); a video's mean is its fraction of dynamic clips."""

    name: ClassVar[str] = "dynamic_degree"
    # 1.1: compiled on CUDA by default (rounding ~1e-6); 1.2: frames encoded once per run of pairs (rounding)
    # 1.3: frames above the protocol size run fewer pairs per forward (correlation memory budget; rounding)
    # 1.4: runs sized to what the decision still needs (other batch shapes: rounding); on CUDA in the fast precision
    # the correlation windows are read by the Triton kernel (rounding, ~4e-5 on a feature)
    version: ClassVar[str] = "1.4"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "dynamic_degree", Level.CLIP, True,
            "VBench 0.1.5 dynamic degree of the clip: 1 if enough RAFT top-5% flow magnitudes (every "
            "round(fps/8)-th frame) exceed 6*min(H,W)/256, else 0; the video mean is the fraction of dynamic clips",
            "fraction",
        ),
    )

    candidates: ClassVar[tuple[WeightFile, ...]] = (RAFT_LARGE_C_T_V1, RAFT_THINGS)
    # at most 10 pairs (11 frames) per forward: a protocol clip needs 10 pairs above the threshold, so a moving clip
    # settles in one run. Peak GPU memory on an H100: 3.78 GiB with grid_sample (8 pairs: 3.07), 1.75 GiB with the
    # Triton lookup (RESULTS.md)
    default_batch_size: ClassVar[int] = 10
    compile_mode: ClassVar[str | None] = "reduce-overhead"  # CUDA graphs: 9% faster on an H100 (RESULTS.md)
    compile_dynamic_batch: ClassVar[bool] = True  # runs hold 2 to batch-size pairs (sized to the decision)

    def __init__(self, device: str = "cpu", precision: str = "auto", batch_size: int | None = None,
                 verify_weights: bool = True, compile: str | bool = "auto", early_exit: bool = True,
                 lookup: str = "auto") -> None:
        """``lookup``: how RAFT reads its correlation windows, ``grid_sample`` (as torchvision), ``window`` (one
        gathered block per query and level; the same values up to rounding, see
        :mod:`evaluators.vbench.window_lookup`), ``triton`` (that arithmetic as one Triton kernel per level on
        CUDA, writing the update block's input directly: :mod:`evaluators.vbench.triton_lookup`) or ``auto``
        (the default: ``triton`` on CUDA in the fast precision, where it measured 4% faster with half the memory,
        else ``grid_sample``, so CPU and fp32 parity runs read the windows exactly as torchvision does)."""
        super().__init__(device, precision, batch_size, verify_weights, compile)
        self.early_exit = bool(early_exit)
        if lookup == "auto":
            lookup = "triton" if torch.device(device).type == "cuda" and self.precision != "fp32" else "grid_sample"
        self.lookup = check_lookup(lookup, RAFT_LOOKUP_CHOICES)

    def protocol(self) -> dict[str, object]:
        return {
            "reference": "VBench 0.1.5 dynamic_degree", "flow": "torchvision raft_large",
            "iterations": RAFT_ITERATIONS, "frame_step": "max(1, round(fps/8))", "resolution": "native",
            "padding": "replicate to multiples of 8, split evenly (RAFT 'sintel'); scores over the padded flow",
            "input_range": [-1.0, 1.0], "pair_score": "mean of the top 5% flow magnitudes",
            "threshold": "6.0 * min(H, W) / 256", "count": "round(4 * N_sampled_frames / 16) pairs above threshold",
            "unit": "per clip 0/1; per video the fraction of dynamic clips",
            "precision": self.precision, "autocast": str(catalog_motion.autocast_dtype(self.precision, self.device)),
            "compiled": self.compiled, "compile_mode": self.compile_mode if self.compiled else None,
            "early_exit": "RAFT stops once the decision is settled (same decision)" if self.early_exit else False,
            "correlation_lookup": self.lookup,
        }

    def _build(self, item: WeightFile, path: Path) -> torch.nn.Module:
        from torchvision.models.optical_flow import raft_large

        state = catalog_motion.load_state_dict(path)
        if item is RAFT_THINGS:
            state = raft_things_to_torchvision(state)
        model = raft_large(weights=None, progress=False)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsUnavailableError(item.filename, path, f"is not a RAFT-large checkpoint ({exc})") from exc
        return model

    def _compile(self, model: torch.nn.Module) -> torch.nn.Module:
        """torchvision's RAFT behind :class:`raft_pairs.ConsecutivePairFlow` (each frame encoded once, only the last
        flow upsampled), compiled as a whole when ``self.compiled``: it maps N + 1 frames to N pair scores."""
        pairs = raft_pairs.ConsecutivePairFlow(model, RAFT_ITERATIONS, TOP_FRACTION, self.lookup)
        return super()._compile(pairs)

    def _batch_scores(self, frames: np.ndarray | torch.Tensor, fps: float,
                      next_size: Callable[[], int] | None = None) -> Iterator[torch.Tensor]:
        """Top-5% flow magnitudes of consecutive sampled pairs, one device tensor per run of pairs (no host sync).

        ``next_size`` (called before each run, after the consumer has read the previous one) says how many pairs the
        next run should hold; runs never pass the batch size or the correlation memory budget. Without it every run
        is that cap."""
        sampled = frames[:: sampling_interval(fps)]
        if len(sampled) < 2:
            return
        check_raft_size(sampled.shape[1], sampled.shape[2], "frames")
        model = self._load()
        dtype = catalog_motion.autocast_dtype(self.precision, self.device)
        pad = sintel_padding(sampled.shape[1], sampled.shape[2])
        video = as_device_uint8(sampled, self.device).permute(0, 3, 1, 2)
        padded = (sampled.shape[1] + pad[2] + pad[3], sampled.shape[2] + pad[0] + pad[1])
        step = catalog_motion.pairs_per_run(self.batch_size, *padded, RAFT_VOLUME_BYTES_PER_ENTRY)
        with catalog_motion.inference(self.device, dtype):
            # every sampled frame padded and scaled once, up front: with early exit the host waits for each run's
            # scores, and the next run then only slices (the GPU no longer idles while the host prepares frames)
            prepared = F.pad(video.float(), pad, mode="replicate") / 255.0 * 2.0 - 1.0
            start, pairs = 0, len(sampled) - 1
            while start < pairs:
                size = step if next_size is None else run_pairs(step, next_size())
                stop = min(start + size, pairs)
                yield model(prepared[start : stop + 1])
                start = stop

    def pair_scores(self, frames: np.ndarray | torch.Tensor, fps: float) -> np.ndarray:
        """The top-5% flow magnitude of every consecutive pair of sampled frames (float64, one host sync)."""
        scores = list(self._batch_scores(frames, fps))
        return torch.cat(scores).double().cpu().numpy() if scores else np.zeros(0, dtype=np.float64)

    def is_dynamic_clip(self, frames: np.ndarray | torch.Tensor, fps: float) -> bool:
        """VBench's decision, stopping RAFT as soon as the remaining pairs cannot change it.

        The decision only counts pairs above the threshold: once ``required_count`` of them are above
        (dynamic), or too few pairs remain to reach it (static), the rest of the clip cannot change the
        outcome, so its flow is not computed (``early_exit=False`` computes every pair). Same decision
        as :func:`is_dynamic` over all pairs, always. Each run holds at most the pairs the decision needs before it
        could settle (:func:`pairs_before_settled`), so no pair after the settling one is ever computed.
        """
        if not self.early_exit:
            return is_dynamic(self.pair_scores(frames, fps), self._num_sampled(frames, fps), self._thres(frames))
        num_sampled = self._num_sampled(frames, fps)
        needed, remaining, above = required_count(num_sampled), max(0, num_sampled - 1), 0
        if remaining == 0:
            return False

        def unsettled_pairs() -> int:
            return pairs_before_settled(needed, above, remaining)

        for scores in self._batch_scores(frames, fps, unsettled_pairs):
            above += int(torch.count_nonzero(scores.double() > self._thres(frames)))
            remaining -= scores.shape[0]
            if above >= needed or above + remaining < needed:
                break
        return above >= needed

    @staticmethod
    def _num_sampled(frames: np.ndarray | torch.Tensor, fps: float) -> int:
        return len(range(0, frames.shape[0], sampling_interval(fps)))

    @staticmethod
    def _thres(frames: np.ndarray | torch.Tensor) -> float:
        return threshold(frames.shape[1], frames.shape[2])

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames = check_frames(clip.frames, clip, min_frames=1)
        check_raft_size(frames.shape[1], frames.shape[2], clip_label(clip))
        dynamic = self.is_dynamic_clip(frames_source(clip, frames), clip.sample.fps)
        return {"dynamic_degree": 1.0 if dynamic else 0.0}
