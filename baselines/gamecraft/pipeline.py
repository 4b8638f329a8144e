"""One GameCraft action chunk end to end: text and image encoding, Plücker maps, sampling, VAE decode.

Components follow the HunyuanVideo diffusers port layout (``vae/`` AutoencoderKLHunyuanVideo,
``text_encoder/`` LLaVA-Llama-3-8B's language model as ``LlamaModel``, ``tokenizer/``,
``text_encoder_2/`` CLIP-L ``CLIPTextModel``, ``tokenizer_2/``): GameCraft's ``stdmodels`` are
HunyuanVideo's VAE (``884-16c-hy0801``) and text encoders. Text: HunyuanVideo's video prompt
template, 256 tokens after cropping the template's 95, hidden states of the third-to-last layer
(``hidden_state_skip_layer=2``), CLIP's pooled output (77 tokens). Image: scaled to cover the
working size (bilinear) and centre-cropped (upstream's ``CropResize``), VAE latent *sampled* (as
upstream) with a seeded generator, times the scaling factor. Decode: latents / scaling factor,
(x / 2 + 0.5) clamped, times 255 and truncated to uint8 (upstream's ``save_videos_grid``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from baselines.gamecraft.camera import FRAMES_PER_ACTION, action_plucker
from baselines.gamecraft.model import GameCraftTransformer
from baselines.gamecraft.sampler import FlowSchedule, sample_action

#: upstream README's ``--add-neg-prompt``
DEFAULT_NEGATIVE_PROMPT = ("overexposed, low quality, deformation, a poor composition, bad hands, bad teeth, bad eyes, "
                           "bad limbs, distortion, blurring, text, subtitles, static, picture, black border.")
TEXT_TOKENS = 256
PROMPT_CROP_START = 95
CLIP_TOKENS = 77
HIDDEN_STATE_SKIP_LAYER = 2
#: none: all on the device; model: each component visits the device while it runs; group: the DiT's
#: blocks stay in CPU memory and are streamed in one at a time (upstream's ``--cpu-offload``:
#: diffusers ``apply_group_offloading(block_level, num_blocks_per_group=1)``).
OFFLOAD_MODES = ("none", "model", "group")


@dataclass
class GameCraftComponents:
    """The frozen modules around the DiT (mutable: they move between devices)."""

    vae: Any
    text_encoder: Any
    tokenizer: Any
    text_encoder_2: Any
    tokenizer_2: Any


@dataclass(frozen=True)
class ActionSettings:
    """The sampling settings of upstream's README single-GPU command."""

    steps: int = 50
    cfg_scale: float = 2.0
    shift: float = 5.0
    deepcache: bool = True
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    height: int = 704
    width: int = 1216
    crop_start: int = PROMPT_CROP_START
    #: upstream casts the Plücker maps to bf16 before the DiT whatever the run's precision
    plucker_bf16: bool = True


def crop_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale to cover (height, width) keeping the aspect (bilinear), then centre-crop (upstream ``CropResize``)."""
    import torchvision.transforms.functional as TF

    h, w = frame.shape[:2]
    if (h, w) == (height, width):
        return frame
    scale = max(width / w, height / h)
    image = TF.resize(Image.fromarray(frame), [int(h * scale), int(w * scale)],
                      interpolation=TF.InterpolationMode.BILINEAR)
    return np.asarray(TF.center_crop(image, [height, width]))


class ActionPipeline:
    """Encoders + DiT + sampler for one 33-frame action; devices and memory switches are set here."""

    def __init__(self, transformer: GameCraftTransformer, components: GameCraftComponents, settings: ActionSettings,
                 device: str = "cpu", dtype: torch.dtype = torch.float32, offload: str = "none") -> None:
        if offload not in OFFLOAD_MODES:
            raise ValueError(f"offload must be one of {OFFLOAD_MODES}, got {offload!r}")
        self.transformer, self.components, self.settings = transformer.eval(), components, settings
        self.device, self.dtype, self.offload = torch.device(device), dtype, offload
        self.schedule = FlowSchedule.make(settings.steps, settings.shift)
        self._text_cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        for module in (components.vae, components.text_encoder, components.text_encoder_2):
            module.eval()
        home = torch.device("cpu") if offload != "none" else self.device
        if offload == "group":
            from diffusers.hooks import apply_group_offloading

            transformer.to("cpu")
            apply_group_offloading(transformer, onload_device=self.device, offload_device=torch.device("cpu"),
                                   offload_type="block_level", num_blocks_per_group=1,
                                   use_stream=self.device.type == "cuda")
        else:
            transformer.to(home)
        for module in (components.vae, components.text_encoder, components.text_encoder_2):
            module.to(home)

    def _use(self, module: torch.nn.Module) -> torch.nn.Module:
        if self.offload == "group" and module is self.transformer:
            return module
        if self.offload != "none":
            for other in (self.transformer, self.components.vae, self.components.text_encoder,
                          self.components.text_encoder_2):
                if other is not module and not (self.offload == "group" and other is self.transformer):
                    other.to("cpu")
        return module.to(self.device)

    # -- encoders -------------------------------------------------------------------------------
    @torch.no_grad()
    def _encode_one(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

        crop = self.settings.crop_start
        tok = self.components.tokenizer(DEFAULT_PROMPT_TEMPLATE["template"].format(prompt), padding="max_length",
                                        max_length=TEXT_TOKENS + crop, truncation=True, return_tensors="pt",
                                        return_attention_mask=True)
        encoder = self._use(self.components.text_encoder)
        hidden = encoder(input_ids=tok.input_ids.to(self.device), attention_mask=tok.attention_mask.to(self.device),
                         output_hidden_states=True).hidden_states[-(HIDDEN_STATE_SKIP_LAYER + 1)]
        text, mask = hidden[:, crop:].float(), tok.attention_mask[:, crop:].to(self.device)
        tok2 = self.components.tokenizer_2(prompt, padding="max_length", max_length=CLIP_TOKENS, truncation=True,
                                           return_tensors="pt")
        pooled = self._use(self.components.text_encoder_2)(tok2.input_ids.to(self.device)).pooler_output.float()
        return text, mask, pooled

    def encode_prompts(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Text states, mask and pooled vector batched [negative prompt, prompt]."""
        if prompt not in self._text_cache:
            if len(self._text_cache) > 16:
                self._text_cache.clear()
            neg, pos = self._encode_one(self.settings.negative_prompt), self._encode_one(prompt)
            self._text_cache[prompt] = tuple(torch.cat([a, b]) for a, b in zip(neg, pos, strict=True))
        return self._text_cache[prompt]

    @torch.no_grad()
    def encode_image(self, frame: np.ndarray, seed: int) -> torch.Tensor:
        """Scaled VAE latent (1, 16, 1, h, w) of a uint8 frame at the working size."""
        vae = self._use(self.components.vae)
        pixels = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1
        generator = torch.Generator("cpu").manual_seed(int(seed) % (2**63))
        dist = vae.encode(pixels.to(self.device, vae.dtype)).latent_dist
        noise = torch.randn(dist.mean.shape, generator=generator).to(dist.mean.device, dist.mean.dtype)
        return (dist.mean + dist.std * noise).float() * vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """uint8 (33, H, W, 3) frames of one action's 9 latents (decoded on their own, as upstream)."""
        vae = self._use(self.components.vae)
        video = vae.decode((latents / vae.config.scaling_factor).to(self.device, vae.dtype), return_dict=False)[0]
        pixels = ((video[0].float() / 2 + 0.5).clamp(0, 1) * 255).to(torch.uint8)
        return pixels.permute(1, 2, 3, 0).cpu().numpy()

    # -- one action -----------------------------------------------------------------------------
    def plucker(self, key: str, value: float) -> torch.Tensor:
        """(2, 33, 6, H, W) [uncond, cond] maps at the working size on the device."""
        cond, uncond = action_plucker(key, value, self.settings.height, self.settings.width)
        maps = torch.stack([uncond, cond]).to(self.device)
        return maps.to(torch.bfloat16).float() if self.settings.plucker_bf16 else maps

    def latent_shape(self, continuation: bool) -> tuple[int, ...]:
        frames = 1 + (FRAMES_PER_ACTION - 1) // 4
        return (1, self.transformer.config.latent_channels, 2 * frames if continuation else frames + 1,
                self.settings.height // 8, self.settings.width // 8)

    @torch.no_grad()
    def generate(self, prompt: str, key: str, value: float, noise: torch.Tensor, image_latent: torch.Tensor | None,
                 history: torch.Tensor | None, on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """The 9 new latents of one action (``history`` None: the first action, from ``image_latent``)."""
        text, mask, pooled = self.encode_prompts(prompt)
        plucker = self.plucker(key, value)
        model = self._use(self.transformer)
        return sample_action(model, noise.to(self.device), None if image_latent is None else image_latent.to(
            self.device), None if history is None else history.to(self.device), self.schedule,
            cfg_scale=self.settings.cfg_scale, text=text, text_mask=mask, pooled=pooled, plucker=plucker,
            deepcache=self.settings.deepcache, on_step=on_step).cpu()


__all__ = ["DEFAULT_NEGATIVE_PROMPT", "OFFLOAD_MODES", "ActionPipeline", "ActionSettings", "GameCraftComponents",
           "crop_resize"]
