"""LongVie 2's training losses: flow matching, per-latent weights and the temporal regularisers.

The paper writes the regularisers on latents (L_deg = ||LP(z~_I^0) - LP(z^0)||^2, L_gt =
||HP(z_gt^0) - HP(z^0)||^2, L_cons = ||z_H^-1 - z^0||^2). Upstream's code computes them on
velocities with the sample's own noise eps: with v = eps - z, ``(v_pred - (eps - z_ref))`` equals
``z_ref - (eps - v_pred)``, i.e. the latent-space difference between a reference latent and the
clean latent the prediction implies. We follow the code (velocity form), so a checkpoint trained
here sees the same gradients as upstream's.

What each term is for:
- main: flow matching on all latent frames; when the sample is degraded the first three latent
  frames get small weights (0.05, 0.325, 0.757), since the first frame is *meant* to differ from
  a degraded conditioning image and the next ones are allowed to drift back to the clean video;
- L_deg: the first latent frame keeps the low frequencies (colour, layout) of the conditioning
  frame that was actually given, degraded or not;
- L_gt: ... and the high frequencies (detail) of the ground truth;
- L_cons: with history, the first latent frame continues the last history frame (unfiltered,
  as upstream's code, despite its ``_lp`` variable name).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

FIRST_LATENT_WEIGHTS = (0.05, 0.325, 0.757)
DEG_WEIGHT = 0.2
GT_WEIGHT = 0.15
CONS_WEIGHT = 0.5


def lowpass(x: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """Spatial 2x trilinear down-sampling and back (no antialias: in effect a 2x2 box average, then bilinear up).

    ``x`` is (B, C, F, H, W); time is left alone.
    """
    if x.ndim != 5:
        raise ValueError(f"lowpass expects (B, C, F, H, W) latents, got shape {tuple(x.shape)}")
    down = F.interpolate(x, scale_factor=(1.0, scale, scale), mode="trilinear", align_corners=False)
    return F.interpolate(down, size=tuple(x.shape[2:]), mode="trilinear", align_corners=False)


def highpass(x: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """What :func:`lowpass` removes: ``x - lowpass(x)``."""
    return x - lowpass(x, scale=scale)


def latent_frame_weights(num_latent_frames: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, F, 1, 1) weights: 0.05, 0.325, 0.757 on latent frames 0, 1, 2 and 1 on the rest."""
    w = torch.ones(num_latent_frames, dtype=torch.float32, device=device)
    k = min(num_latent_frames, len(FIRST_LATENT_WEIGHTS))
    w[:k] = torch.tensor(FIRST_LATENT_WEIGHTS[:k], dtype=torch.float32, device=device)
    return w.view(1, 1, -1, 1, 1)


@dataclass(frozen=True)
class LossTerms:
    """Every term of one training step; ``total`` is what is back-propagated.

    ``deg``, ``gt`` and ``cons`` are ``None`` when the step did not use them (a clean sample
    has no regulariser; ``cons`` needs history).
    """

    total: torch.Tensor
    main: torch.Tensor
    timestep_weight: torch.Tensor
    deg: torch.Tensor | None = None
    gt: torch.Tensor | None = None
    cons: torch.Tensor | None = None

    @property
    def temporal(self) -> torch.Tensor | None:
        """L_temp = 0.2 L_deg + 0.15 L_gt + 0.5 L_cons (the terms present)."""
        if self.deg is None or self.gt is None:
            return None
        out = DEG_WEIGHT * self.deg + GT_WEIGHT * self.gt
        return out if self.cons is None else out + CONS_WEIGHT * self.cons

    def as_floats(self) -> dict[str, float]:
        """Detached values for logs (absent terms are left out)."""
        items = {"total": self.total, "main": self.main, "timestep_weight": self.timestep_weight,
                 "deg": self.deg, "gt": self.gt, "cons": self.cons}
        return {k: float(v.detach()) for k, v in items.items() if v is not None}


def longvie_loss(pred: torch.Tensor, target: torch.Tensor, noise: torch.Tensor, *, timestep_weight: torch.Tensor,
                 degraded: bool, cond_latent: torch.Tensor | None = None,
                 history_latent: torch.Tensor | None = None) -> LossTerms:
    """The loss of one step, as upstream's ``training_loss`` (velocity form, see the module docstring).

    - ``pred``, ``target``, ``noise``: (B, C, F, H, W); target = noise - clean latents.
    - ``degraded``: the sample's ``deg_flag``; without it the loss is plain MSE, whatever else is given.
    - ``cond_latent``: (B, C, 1, H, W) latent of the conditioning image actually given (degraded or not);
      required when ``degraded``.
    - ``history_latent``: (B, C, 1, H, W) latent of the last history frame, or ``None`` without history.
    """
    if pred.shape != target.shape or noise.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and noise {tuple(noise.shape)} "
                         f"must have one shape")
    pred32, target32 = pred.float(), target.float()
    if not degraded:
        main = F.mse_loss(pred32, target32)
        return LossTerms(total=main * timestep_weight, main=main, timestep_weight=timestep_weight)
    if cond_latent is None:
        raise ValueError("a degraded sample needs the latent of its conditioning image (cond_latent)")
    weights = latent_frame_weights(pred.shape[2], device=pred.device)
    main = ((pred32 - target32) ** 2 * weights).mean()
    pred0, noise0 = pred32[:, :, :1], noise.float()[:, :, :1]
    gt = F.mse_loss(highpass(pred0), highpass(target32[:, :, :1]))
    deg = F.mse_loss(lowpass(pred0), lowpass(noise0 - cond_latent.float()))
    cons = None if history_latent is None else F.mse_loss(pred0, noise0 - history_latent.float())
    terms = LossTerms(total=main, main=main, timestep_weight=timestep_weight, deg=deg, gt=gt, cons=cons)
    temporal = terms.temporal
    assert temporal is not None
    return LossTerms(total=(main + temporal) * timestep_weight, main=main, timestep_weight=timestep_weight,
                     deg=deg, gt=gt, cons=cons)
