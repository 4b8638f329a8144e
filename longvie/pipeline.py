"""One LongVie 2 clip: encode the conditions, denoise, decode (the state of the long loop is in ``adapter.py``).

Why this is not diffusers' ``WanImageToVideoPipeline``: a LongVie 2 clip also encodes two control
videos into 36-channel tensors, the history frames into latents, and starts from a caller-given
noise whose latent frame 0 is blended with the last history latent. The encoders are diffusers'
/ transformers' own modules (``AutoencoderKLWan``, ``UMT5EncoderModel``, ``CLIPVisionModel``).

All latents are the VAE's *normalised* latents ((z - mean) / std, the distribution's mode).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from longvie.config import SamplerConfig
from longvie.fa4 import Fa4TilePlan
from longvie.model import LongVie2Transformer
from longvie.sampler import Conditioning, sample
from longvie.vae_runtime import VaeRuntime, prepare_vae, vae_calls, vae_input

MASK_CHANNELS = 4
#: none: all on the device; model: each component moves to the device while it runs;
#: group: transformer weights stay in pinned CPU memory, prefetched layer by layer on a CUDA stream
#: (diffusers group offloading; measured on an H100 at 4% slower per step with 5.3 GiB peak).
OFFLOAD_MODES = ("none", "model", "group")
#: SDPA backends a run can pin (``torch.nn.attention.sdpa_kernel``); auto lets PyTorch choose per call;
#: fa4 routes the Wan attention to FlashAttention-4 (``longvie.fa4``; Hopper/Blackwell with flash-attn-4).
ATTENTION_BACKENDS = ("auto", "cudnn", "flash", "efficient", "math", "fa4")


def attention_backend(name: str, fa4_tiles: Fa4TilePlan | None = None) -> contextlib.AbstractContextManager:
    """Context that pins scaled-dot-product attention to one backend (diffusers' Wan attention uses SDPA).

    Why a switch: at LongVie 2's 20k-token sequences attention is a large share of the step, and
    which kernel PyTorch picks by default depends on the version and GPU; see
    ``benchmarks/longvie2_speed.py --variants`` for measurements. ``fa4_tiles`` (fa4 only) pins FA4's tiles.
    """
    if name not in ATTENTION_BACKENDS:
        raise ValueError(f"attention must be one of {ATTENTION_BACKENDS}, got {name!r}")
    if name == "auto":
        return contextlib.nullcontext()
    if name == "fa4":  # checked here, so a pipeline asked for fa4 where it cannot run fails when built
        from longvie.fa4 import fa4_attention_routing, require_fa4

        require_fa4()
        return fa4_attention_routing(check=False, tiles=fa4_tiles)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel({"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
                        "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}[name])


@dataclass
class WanComponents:
    """The frozen encoders/decoder around the transformer (mutable: they move between devices)."""

    vae: Any  # diffusers AutoencoderKLWan
    text_encoder: Any  # transformers UMT5EncoderModel
    tokenizer: Any
    image_encoder: Any  # transformers CLIPVisionModel
    image_processor: Any  # transformers CLIPImageProcessor


@dataclass(frozen=True)
class ClipInputs:
    """Pixels of one clip's conditions at the working size (uint8, (H, W, 3) / (T, H, W, 3))."""

    first_frame: np.ndarray
    caption: str
    depth: np.ndarray | None = None
    track: np.ndarray | None = None
    history: np.ndarray | None = None  # the previous clip's last frames (8 upstream)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Stretch frames to (height, width) with PIL bicubic, as upstream's ``inference.py`` does (no crop)."""
    single = frames.ndim == 3
    stack = frames[None] if single else frames
    if stack.shape[1:3] == (height, width):
        return frames
    out = np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC)) for f in stack])
    return out[0] if single else out


def to_video_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float32 (1, 3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0


def to_frames(video: torch.Tensor) -> np.ndarray:
    """float (1, 3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3), truncating like upstream.

    Upstream (``vae_output_to_image``) maps ``(x + 1) * 255 / 2``, clips to [0, 255] and casts
    to uint8, which truncates; rounding instead would make every frame (and so the next clip's
    first frame and history) about half a grey level brighter than upstream's.
    """
    pixels = ((video[0].float().clamp(-1, 1) + 1) * (255 / 2)).clamp(0, 255).to(torch.uint8)
    return pixels.permute(1, 2, 3, 0).cpu().numpy()


class ClipPipeline:
    """Encoders + transformer + sampler for one clip; devices and memory switches are set here."""

    def __init__(self, transformer: LongVie2Transformer, components: WanComponents, sampler: SamplerConfig,
                 device: str = "cpu", dtype: torch.dtype = torch.float32, *, text_encoder_device: str | None = None,
                 offload: str = "none", vae_tiling: bool = False, batched_cfg: bool = True,
                 attention: str = "auto", batched_vae: bool = False, fa4_tiles: Fa4TilePlan | None = None,
                 vae_runtime: VaeRuntime | None = None) -> None:
        if offload not in OFFLOAD_MODES:
            raise ValueError(f"offload must be one of {OFFLOAD_MODES}, got {offload!r}")
        attention_backend(attention)  # validates the name
        self.attention = attention
        self.fa4_tiles = fa4_tiles
        self.transformer, self.components, self.sampler = transformer, components, sampler
        self.device, self.dtype, self.offload, self.batched_cfg = torch.device(device), dtype, offload, batched_cfg
        self.batched_vae = batched_vae
        self.text_device = torch.device(text_encoder_device or device)
        self._text_cache: dict[str, torch.Tensor] = {}
        transformer.to(dtype=dtype).eval()
        components.vae.eval()
        #: the VAE's dtype and speed switches (longvie.vae_runtime); default: as loaded, plain
        self.vae_runtime = vae_runtime or VaeRuntime(dtype=components.vae.dtype)
        prepare_vae(components.vae, self.vae_runtime)
        components.text_encoder.eval()
        components.image_encoder.eval()
        if vae_tiling:
            components.vae.enable_tiling()
        home = torch.device("cpu") if offload != "none" else self.device
        transformer.to(torch.device("cpu") if offload == "model" else home)
        if offload == "group":
            from diffusers.hooks import apply_group_offloading

            transformer.to("cpu")
            apply_group_offloading(transformer, onload_device=self.device, offload_device=torch.device("cpu"),
                                   offload_type="leaf_level", use_stream=self.device.type == "cuda")
        components.vae.to(home)
        components.image_encoder.to(home)
        components.text_encoder.to(self.text_device if offload == "none" else torch.device("cpu"))

    # -- device handling for model offload ---------------------------------------------------
    def _use(self, module: torch.nn.Module, device: torch.device | None = None) -> torch.nn.Module:
        if self.offload == "group" and module is self.transformer:
            return module  # its hooks move the weights
        if self.offload != "none":
            for other in (self.transformer, self.components.vae, self.components.image_encoder,
                          self.components.text_encoder):
                if other is not module and not (other is self.transformer and self.offload == "group"):
                    other.to("cpu")
        return module.to(device or self.device)

    # -- encoders ----------------------------------------------------------------------------
    def _vae_stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.components.vae.config
        mean = torch.tensor(cfg.latents_mean, dtype=like.dtype, device=like.device).view(1, -1, 1, 1, 1)
        std = torch.tensor(cfg.latents_std, dtype=like.dtype, device=like.device).view(1, -1, 1, 1, 1)
        return mean, std

    @torch.no_grad()
    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Normalised latent mode of a (1, 3, T, H, W) [-1, 1] video; T = 1 + 4k gives 1 + k frames."""
        return self.encode_videos([video])[0]

    @torch.no_grad()
    def encode_videos(self, videos: list[torch.Tensor]) -> list[torch.Tensor]:
        """:meth:`encode_video` of several videos of one shape: one batched VAE call when ``batched_vae``.

        Why it is a switch: a clip encodes five 81-frame videos (the first frame and each control's first frame,
        each followed by zeros, and the two control videos), and batching them walks the VAE's causal time chunks
        once. It was expected to use the GPU better, but on an H100 it measured 0.2-0.35 s per clip slower than
        one by one (``benchmarks/longvie2_speed.py --vae-compare``), so it is off by default. Each video's
        latents are computed from its own frames only (the VAE has no batch coupling), so only the rounding of
        batched kernels can differ.
        """
        vae = self._use(self.components.vae)
        if self.batched_vae:  # one call per shape, in order of first appearance
            groups: dict[tuple[int, ...], list[int]] = {}
            for index, video in enumerate(videos):
                groups.setdefault(tuple(video.shape), []).append(index)
            batches = list(groups.values())
        else:
            batches = [[index] for index in range(len(videos))]
        out: list[torch.Tensor] = [torch.empty(0)] * len(videos)
        for batch in batches:
            stacked = vae_input(torch.cat([videos[index] for index in batch]).to(self.device), self.vae_runtime)
            with vae_calls(self.vae_runtime):
                raw = vae.encode(stacked).latent_dist.mode().float()
            mean, std = self._vae_stats(raw)
            for index, latents in zip(batch, ((raw - mean) / std).split(1), strict=True):
                out[index] = latents
        return out

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self._use(self.components.vae)
        mean, std = self._vae_stats(latents)
        with vae_calls(self.vae_runtime):
            return vae.decode(vae_input((latents * std + mean).to(self.device), self.vae_runtime),
                              return_dict=False)[0]

    @staticmethod
    def _first_frame_video(frame: np.ndarray, num_frames: int) -> torch.Tensor:
        """The frame followed by ``num_frames - 1`` zero frames, as Wan2.1 I2V encodes its ``y``."""
        video = to_video_tensor(frame[None])
        return torch.cat([video, torch.zeros(1, 3, num_frames - 1, *video.shape[3:])], dim=2)

    @staticmethod
    def _masked(first_frame_latents: torch.Tensor) -> torch.Tensor:
        """mask 4 (ones on latent frame 0) | the first-frame video's latents 16."""
        mask = torch.zeros(1, MASK_CHANNELS, *first_frame_latents.shape[2:], device=first_frame_latents.device)
        mask[:, :, 0] = 1.0
        return torch.cat([mask, first_frame_latents], dim=1)

    def _first_frame_condition(self, frame: np.ndarray, num_frames: int) -> torch.Tensor:
        """mask 4 | VAE(frame followed by zero frames) 16, as Wan2.1 I2V builds its ``y``."""
        return self._masked(self.encode_video(self._first_frame_video(frame, num_frames)))

    def control_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """control latents 16 | mask 4 | first-control-frame latents 16 (36 channels)."""
        control, first = self.encode_videos([to_video_tensor(frames),
                                             self._first_frame_video(frames[0], frames.shape[0])])
        return torch.cat([control, self._masked(first)], dim=1)

    @torch.no_grad()
    def encode_text(self, prompt: str) -> torch.Tensor:
        """umT5 embeddings of ``prompt``: max_text_tokens tokens, zero past the true length."""
        if prompt in self._text_cache:
            return self._text_cache[prompt]
        tok = self.components.tokenizer(prompt, padding="max_length", max_length=self.sampler.max_text_tokens,
                                        truncation=True, add_special_tokens=True, return_attention_mask=True,
                                        return_tensors="pt")
        encoder = self._use(self.components.text_encoder, self.text_device)
        mask = tok.attention_mask.to(self.text_device)
        hidden = encoder(tok.input_ids.to(self.text_device), mask).last_hidden_state.float()
        hidden = (hidden * mask[..., None]).to(self.device)
        if len(self._text_cache) > 64:
            self._text_cache.clear()
        self._text_cache[prompt] = hidden
        return hidden

    @torch.no_grad()
    def encode_image(self, frame: np.ndarray) -> torch.Tensor:
        """CLIP ViT penultimate hidden states of the conditioning image (Wan2.1 I2V)."""
        pixels = self.components.image_processor(images=Image.fromarray(frame), return_tensors="pt").pixel_values
        encoder = self._use(self.components.image_encoder)
        out = encoder(pixels.to(self.device, encoder.dtype), output_hidden_states=True)
        return out.hidden_states[-2].float()

    # -- one clip ----------------------------------------------------------------------------
    def conditioning(self, inputs: ClipInputs) -> Conditioning:
        cfg = self.sampler
        first = resize_frames(inputs.first_frame, cfg.height, cfg.width)
        # the clip's 81-frame videos, encoded together: the first frame's, then each control and its first frame's
        videos = {"first": self._first_frame_video(first, cfg.num_frames)}
        for name, control in (("dense", inputs.depth), ("sparse", inputs.track)):
            if control is not None:
                frames = resize_frames(control, cfg.height, cfg.width)
                videos[name] = to_video_tensor(frames)
                videos[f"{name}_first"] = self._first_frame_video(frames[0], frames.shape[0])
        latents = dict(zip(videos, self.encode_videos(list(videos.values())), strict=True))
        image_condition = self._masked(latents["first"])
        dense, sparse = (torch.cat([latents[name], self._masked(latents[f"{name}_first"])], dim=1)
                         if name in latents else None for name in ("dense", "sparse"))
        history = None
        if inputs.history is not None and len(inputs.history) > 0:
            frames = resize_frames(inputs.history, cfg.height, cfg.width)
            history = self.encode_video(to_video_tensor(frames[: 1 + 4 * ((len(frames) - 1) // 4)]))
        return Conditioning(text=self.encode_text(inputs.caption), negative_text=self.encode_text(cfg.negative_prompt),
                            image_embeds=self.encode_image(first), image_condition=image_condition, dense=dense,
                            sparse=sparse, history=history)

    def start_latents(self, noise: torch.Tensor, history: torch.Tensor | None) -> torch.Tensor:
        """Unified noise: the given noise, with latent frame 0 blended towards the last history latent."""
        start = noise.to(self.device, torch.float32).clone()
        if self.dtype == torch.bfloat16:
            start = start.to(torch.bfloat16).float()  # upstream draws float32 noise and casts it to bf16
        if history is not None:
            s = self.sampler.unified_noise_sigma
            start[:, :, 0] = (1 - s) * history[:, :, -1].float() + s * start[:, :, 0]
        return start

    def generate(self, inputs: ClipInputs, noise: torch.Tensor,
                 on_step: Callable[[int, int], None] | None = None) -> np.ndarray:
        """uint8 (num_frames, height, width, 3) frames of one clip."""
        cond = self.conditioning(inputs)
        start = self.start_latents(noise, cond.history)
        model = self._use(self.transformer)
        with attention_backend(self.attention, self.fa4_tiles):
            latents = sample(model, start, cond, self.sampler, batched_cfg=self.batched_cfg, on_step=on_step)
        return to_frames(self.decode(latents))

    def noise_shape(self) -> tuple[int, ...]:
        cfg = self.sampler
        vae_cfg = self.components.vae.config
        spatial = 2 ** sum(1 for _ in vae_cfg.temperal_downsample)  # 3 downsamples -> 8
        temporal = 2 ** sum(bool(x) for x in vae_cfg.temperal_downsample)
        return (1, self.transformer.config.latent_channels, 1 + (cfg.num_frames - 1) // temporal,
                cfg.height // spatial, cfg.width // spatial)


def seeded_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The clip noise of upstream: float32 Gaussian from a CPU generator seeded with ``seed``."""
    generator = torch.Generator("cpu").manual_seed(int(seed) % (2**63))
    return torch.randn(shape, generator=generator, dtype=torch.float32)


__all__ = ["ATTENTION_BACKENDS", "OFFLOAD_MODES", "ClipInputs", "ClipPipeline", "WanComponents", "attention_backend",
           "resize_frames", "seeded_noise", "to_frames", "to_video_tensor"]
