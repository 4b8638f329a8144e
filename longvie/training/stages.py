"""The three training stages of LongVie 2 as data: what each one degrades, samples and trains.

- I, control learning: the dual controller learns from clean first frames, with feature-level
  degradation of the dense branch and the depth augmentations (multi-scale fusion, box blur).
- II, degradation-aware first frame: the conditioning frame is degraded like a generated one
  (re-encode, regenerate, colour drift); degraded samples use the temporal loss.
- III, history context: 0 or 4/8/12/16 history frames (themselves degraded now and then); the
  temporal loss adds L_cons. The paper also fine-tunes the base self-attention here; upstream's
  released script trains only the controller, so that is an option (``self_attention``).

Learning rates are upstream's (AdamW, weight decay 0.01, constant): 1e-5 for control learning,
5e-6 for the history stage. Upstream ships one "control" and one "history" script; stage II is
the history script without history, which is how the paper separates the stages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from longvie.training.degradations import (
    NO_FEATURE_DEGRADATION,
    PAPER_FEATURE_DEGRADATION,
    UPSTREAM_CODE_FEATURE_DEGRADATION,
    DepthAugmentation,
    FeatureDegradation,
)
from longvie.training.frame_degradation import (
    FIRST_FRAME_DEGRADATION,
    HISTORY_DEGRADATION,
    NO_FRAME_DEGRADATION,
    FrameDegradation,
)
from longvie.training.history import NO_HISTORY, HistorySampler


@dataclass(frozen=True)
class StageConfig:
    """Everything that differs between stages."""

    name: str
    description: str
    learning_rate: float
    feature_degradation: FeatureDegradation  # lambda on the dense branch's features (paper)
    dense_token_jitter: FeatureDegradation  # scale of the patch-embedded depth tokens (upstream code)
    depth_augmentation: DepthAugmentation
    first_frame: FrameDegradation
    history: HistorySampler
    history_degradation: FrameDegradation
    self_attention: bool = False  # also train the base blocks' self-attention (the dit.safetensors overlay)
    weight_decay: float = 0.01

    def with_options(self, *, learning_rate: float | None = None, self_attention: bool | None = None) -> StageConfig:
        return replace(self, learning_rate=self.learning_rate if learning_rate is None else learning_rate,
                       self_attention=self.self_attention if self_attention is None else self_attention)


STAGE_I = StageConfig(
    name="I", description="control learning (feature-level degradation, depth augmentations)",
    learning_rate=1e-5, feature_degradation=PAPER_FEATURE_DEGRADATION,
    dense_token_jitter=UPSTREAM_CODE_FEATURE_DEGRADATION, depth_augmentation=DepthAugmentation(0.05),
    first_frame=NO_FRAME_DEGRADATION, history=NO_HISTORY, history_degradation=NO_FRAME_DEGRADATION)

STAGE_II = StageConfig(
    name="II", description="degradation-aware first frame (re-encode, regenerate, colour drift)",
    learning_rate=1e-5, feature_degradation=NO_FEATURE_DEGRADATION,
    dense_token_jitter=UPSTREAM_CODE_FEATURE_DEGRADATION, depth_augmentation=DepthAugmentation(0.05),
    first_frame=FIRST_FRAME_DEGRADATION, history=NO_HISTORY, history_degradation=NO_FRAME_DEGRADATION)

STAGE_III = StageConfig(
    name="III", description="history context (0 or 4/8/12/16 frames), temporal losses",
    learning_rate=5e-6, feature_degradation=NO_FEATURE_DEGRADATION,
    dense_token_jitter=UPSTREAM_CODE_FEATURE_DEGRADATION, depth_augmentation=DepthAugmentation(0.05),
    first_frame=FIRST_FRAME_DEGRADATION, history=HistorySampler(), history_degradation=HISTORY_DEGRADATION)

STAGES: dict[str, StageConfig] = {"I": STAGE_I, "II": STAGE_II, "III": STAGE_III}


def stage(name: str) -> StageConfig:
    """A stage by name (I, II, III; also 1, 2, 3)."""
    key = {"1": "I", "2": "II", "3": "III"}.get(str(name), str(name).upper())
    if key not in STAGES:
        raise ValueError(f"unknown training stage {name!r}; stages are I, II, III")
    return STAGES[key]
