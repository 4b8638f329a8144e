"""One training step: a :class:`TrainingClip` -> degraded, encoded model inputs -> :class:`LossTerms`.

Sample assembly follows upstream's history dataset: draw the history length, degrade the history
and the conditioning frame according to the stage, and when there is history and the frame was
not degraded, condition on the *last history frame* (the frame just before the clip), exactly as
the next clip of a long generation is conditioned on the previous clip's last frame. A sample is
``degraded`` (upstream's ``deg_flag``) if any degradation touched its conditioning frame or history;
only then the temporal loss is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from longvie.model import LongVie2Transformer
from longvie.training.data import TrainingClip
from longvie.training.encoders import TrainingEncoders
from longvie.training.frame_degradation import apply_plan
from longvie.training.losses import LossTerms, longvie_loss
from longvie.training.schedule import TrainingSchedule
from longvie.training.stages import StageConfig

MASK_CHANNELS = 4


@dataclass(frozen=True, eq=False)
class PreparedSample:
    """Model inputs of one clip, plus what the loss needs (latent shapes: (1, C, F, h, w))."""

    latents: torch.Tensor  # clean target latents (1, 16, F, h, w)
    image_condition: torch.Tensor  # (1, 20, F, h, w): mask 4 | VAE(conditioning image + zero frames) 16
    dense: torch.Tensor  # (1, 36, F, h, w)
    sparse: torch.Tensor  # (1, 36, F, h, w)
    history: torch.Tensor | None  # (1, 16, Fh, h, w) or None
    text: torch.Tensor  # (1, L, text_dim)
    image_embeds: torch.Tensor  # (1, N, image_dim)
    cond_latent: torch.Tensor  # (1, 16, 1, h, w): the conditioning image alone
    history_latent: torch.Tensor | None  # (1, 16, 1, h, w): the last history frame alone
    degraded: bool
    history_frames: int
    dense_scale: float
    dense_token_scale: float


def unit_video(frames: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (1, 3, T, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).float()
    return (x / 127.5 - 1.0).permute(3, 0, 1, 2)[None]


def first_frame_mask(latent_frames: int, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The I2V mask: 4 channels, ones on latent frame 0 (pixel frame 0 repeated 4x), zeros elsewhere."""
    mask = torch.zeros(1, MASK_CHANNELS, latent_frames, height, width, device=device)
    mask[:, :, 0] = 1.0
    return mask


def first_frame_latents(encoders: TrainingEncoders, image: np.ndarray, num_frames: int,
                        device: torch.device | str) -> torch.Tensor:
    """VAE(image followed by ``num_frames - 1`` zero frames) (the I2V conditioning latents)."""
    video = torch.zeros(1, 3, num_frames, *image.shape[:2], device=device)
    video[:, :, 0] = unit_video(image[None], device)[:, :, 0]
    return encoders.encode(video)


def control_input(encoders: TrainingEncoders, video: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """[VAE(control video) 16 | mask 4 | VAE(first control frame + zeros) 16] = 36 channels."""
    latents = encoders.encode(unit_video(video, device))
    first = first_frame_latents(encoders, video[0], len(video), device)
    mask = first_frame_mask(latents.shape[2], *latents.shape[3:], device=device)
    return torch.cat([latents, mask, first], dim=1)


def depth_to_rgb(depth: torch.Tensor) -> np.ndarray:
    """Depth float (T, H, W) in [0, 1] -> the grey uint8 RGB video the controller is trained on."""
    grey = (depth.clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    return np.repeat(grey[..., None], 3, axis=-1)


def prepare_sample(clip: TrainingClip, stage: StageConfig, encoders: TrainingEncoders, rng: np.random.Generator,
                   model: LongVie2Transformer | None = None, device: torch.device | str = "cpu",
                   generator: torch.Generator | None = None) -> PreparedSample:
    """Degrade and encode one clip for ``stage``. ``model`` is needed only for the 'regenerate' degradation."""
    n_history = min(stage.history.sample(clip.start, rng), (len(clip.preceding) // 4) * 4)
    history_frames = clip.preceding[len(clip.preceding) - n_history:] if n_history else None
    history_degraded = False
    if history_frames is not None:
        plan = stage.history_degradation.plan(rng)
        history_degraded = plan.degraded
        if plan.kind == "regenerate":  # per-frame regeneration needs its own conditioning: use re-encode
            plan = type(plan)("reencode", plan.amount, plan.colour_strength)
        history_frames = apply_plan(history_frames, plan, rng, codec=encoders, device=device, generator=generator)

    text = encoders.encode_text([clip.caption]).to(device)
    plan = stage.first_frame.plan(rng)
    image = clip.frames[0]
    velocity = None
    if plan.kind == "regenerate":
        if model is None:
            raise ValueError("the 'regenerate' first-frame degradation needs the model")
        velocity = _single_frame_velocity(model, encoders, image, text, device)
    image = apply_plan(image[None], plan, rng, codec=encoders, velocity=velocity, device=device,
                       generator=generator)[0]
    degraded = plan.degraded or history_degraded
    if history_frames is not None and not plan.degraded:
        image = history_frames[-1]

    num_frames = len(clip.frames)
    latents = encoders.encode(unit_video(clip.frames, device))
    f, h, w = latents.shape[2:]
    image_condition = torch.cat([first_frame_mask(f, h, w, device),
                                 first_frame_latents(encoders, image, num_frames, device)], dim=1)
    depth = stage.depth_augmentation(torch.from_numpy(clip.depth), rng)
    return PreparedSample(
        latents=latents, image_condition=image_condition,
        dense=control_input(encoders, depth_to_rgb(depth), device),
        sparse=control_input(encoders, clip.tracks, device),
        history=None if history_frames is None else encoders.encode(unit_video(history_frames, device)),
        text=text, image_embeds=encoders.encode_image(unit_video(image[None], device)[:, :, 0]).to(device),
        cond_latent=encoders.encode(unit_video(image[None], device)),
        history_latent=None if history_frames is None else encoders.encode(unit_video(history_frames[-1:], device)),
        degraded=degraded, history_frames=n_history,
        dense_scale=stage.feature_degradation.sample_scale(rng),
        dense_token_scale=stage.dense_token_jitter.sample_scale(rng))


def _single_frame_velocity(model: LongVie2Transformer, encoders: TrainingEncoders, image: np.ndarray,
                           text: torch.Tensor, device: torch.device | str):
    """The model as a one-latent-frame denoiser conditioned on ``image`` itself (no control, no history)."""
    cond = encoders.encode(unit_video(image[None], device))
    image_condition = torch.cat([first_frame_mask(1, *cond.shape[3:], device=device), cond], dim=1)
    image_embeds = encoders.encode_image(unit_video(image[None], device)[:, :, 0]).to(device)

    @torch.no_grad()
    def velocity(x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        return model(x, timestep.view(1), text, image_embeds, image_condition).float()

    return velocity


def sample_loss(model: torch.nn.Module, sample: PreparedSample, schedule: TrainingSchedule, index: int,
                noise: torch.Tensor) -> LossTerms:
    """The loss of ``sample`` at the schedule's timestep ``index`` with ``noise`` (same shape as the latents)."""
    batch = schedule.noised(sample.latents, noise, index)
    pred = model(batch.noisy, batch.timestep.view(1).to(noise.device), sample.text, sample.image_embeds,
                 sample.image_condition, dense=sample.dense, sparse=sample.sparse, history=sample.history,
                 dense_scale=sample.dense_scale, dense_token_scale=sample.dense_token_scale)
    return longvie_loss(pred, batch.target, noise, timestep_weight=batch.weight.to(noise.device),
                        degraded=sample.degraded, cond_latent=sample.cond_latent, history_latent=sample.history_latent)
