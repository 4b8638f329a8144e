"""Configurations of the LongVie 2 transformer and of its sampler.

The real size reproduces Wan2.1-I2V-14B-480P plus the official dual controller (12 half-width
blocks per branch); the tiny size keeps every structural feature (image cross-attention, two
branches, fewer control layers than base layers, half-width control blocks sharing the base's
head dimension so they can share its RoPE tables) at a size a CPU runs in milliseconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

#: The dtypes LongVie 2's options name (the model's ``dtype``, the VAE's ``vae_dtype``, the benches' flags).
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
#: who runs the FFN up-projection + bias + GELU when its epilogue is on: cuBLASLt's GELU epilogue
#: (``longvie.fused``), or quack's CuTe-DSL GEMM on Hopper (``longvie.quack_gelu``).
GELU_BACKENDS = ("cublaslt", "quack")

#: Wan's standard negative prompt (the one Wan2.1 and LongVie 2's ``inference.py`` sample with).
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
    "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)


@dataclass(frozen=True)
class LongVie2Config:
    """Shape of the base DiT and of the dual controller.

    The control blocks must use the base head dimension, since they take the base RoPE tables
    (LongVie 2 has no RoPE of its own); their width is ``control_heads * head_dim``.
    """

    num_layers: int = 40
    num_heads: int = 40
    head_dim: int = 128
    ffn_dim: int = 13824
    in_channels: int = 36
    out_channels: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    image_dim: int = 1280
    eps: float = 1e-6
    rope_max_seq_len: int = 1024
    patch_size: tuple[int, int, int] = (1, 2, 2)
    control_layers: int = 12
    control_heads: int = 20
    control_ffn_dim: int = 6912

    def __post_init__(self) -> None:
        if not 0 <= self.control_layers <= self.num_layers:
            raise ValueError(f"control_layers must be in 0..{self.num_layers}, got {self.control_layers}")
        if self.in_channels != 2 * self.out_channels + 4:
            raise ValueError(f"in_channels must be 2*out_channels+4 (latent | mask | image latent), "
                             f"got {self.in_channels} for out_channels {self.out_channels}")

    @property
    def dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def control_dim(self) -> int:
        return self.control_heads * self.head_dim

    @property
    def latent_channels(self) -> int:
        return self.out_channels

    def diffusers_base_config(self) -> dict[str, Any]:
        """Constructor arguments of diffusers' ``WanTransformer3DModel`` for the base."""
        return {
            "patch_size": tuple(self.patch_size), "num_attention_heads": self.num_heads,
            "attention_head_dim": self.head_dim, "in_channels": self.in_channels,
            "out_channels": self.out_channels, "text_dim": self.text_dim, "freq_dim": self.freq_dim,
            "ffn_dim": self.ffn_dim, "num_layers": self.num_layers, "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads", "eps": self.eps, "image_dim": self.image_dim,
            "added_kv_proj_dim": self.dim, "rope_max_seq_len": self.rope_max_seq_len, "pos_embed_seq_len": None,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["patch_size"] = list(self.patch_size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LongVie2Config:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown LongVie2Config fields {unknown}")
        if "patch_size" in known:
            known["patch_size"] = tuple(known["patch_size"])
        return cls(**known)


#: Wan2.1-I2V-14B-480P + the official LongVie 2 controller.
REAL_CONFIG = LongVie2Config()

#: Same structure, CPU-sized (tests, parity goldens).
TINY_CONFIG = LongVie2Config(num_layers=3, num_heads=2, head_dim=16, ffn_dim=48, text_dim=24, freq_dim=32,
                             image_dim=20, control_layers=2, control_heads=1, control_ffn_dim=40)


@dataclass(frozen=True)
class SamplerConfig:
    """The upstream inference defaults (``inference.py`` of Vchitect/LongVie)."""

    steps: int = 50
    shift: float = 5.0
    cfg_scale: float = 5.0
    negative_prompt: str = WAN_NEGATIVE_PROMPT
    height: int = 352
    width: int = 640
    num_frames: int = 81
    history_frames: int = 8
    #: Weight of the noise in latent frame 0 from the second clip on (hard-coded upstream, ~25/27).
    unified_noise_sigma: float = 0.925926
    #: Upstream casts the timestep to bf16 before the sinusoidal embedding (995.93 -> 996).
    round_timestep_bf16: bool = True
    max_text_tokens: int = 512

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.height % 16 or self.width % 16:
            raise ValueError(f"height and width must divide by 16, got {self.height}x{self.width}")
        if (self.num_frames - 1) % 4:
            raise ValueError(f"num_frames must be 1 + 4k (the VAE's temporal chunking), got {self.num_frames}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_SAMPLER = SamplerConfig()

__all__ = ["DEFAULT_SAMPLER", "DTYPES", "REAL_CONFIG", "TINY_CONFIG", "WAN_NEGATIVE_PROMPT", "LongVie2Config",
           "SamplerConfig"]
