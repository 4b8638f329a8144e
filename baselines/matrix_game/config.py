"""Matrix-Game-2.0's causal generator configuration (the universal model's published config.json).

Values from ``configs/distilled_model/universal/config.json`` and
``configs/inference_yaml/inference_universal.yaml`` of SkyworkAI/Matrix-Game (Matrix-Game-2).
``tiny()`` keeps every structural feature (action modules on the first blocks, windows, local
attention) at sizes a CPU test runs in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class ActionConfig:
    """The per-block action module (keyboard cross-attention + mouse temporal self-attention)."""

    blocks: tuple[int, ...] = tuple(range(15))
    keyboard_dim_in: int = 4
    mouse_dim_in: int = 2
    hidden_size: int = 128  # keyboard embedding width
    keyboard_hidden_dim: int = 1024
    mouse_hidden_dim: int = 1024
    heads_num: int = 16
    vae_time_compression_ratio: int = 4
    windows_size: int = 3
    rope_dim_list: tuple[int, int, int] = (8, 28, 28)
    rope_theta: float = 256.0
    qkv_bias: bool = False


@dataclass(frozen=True)
class MatrixGameConfig:
    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_dim: int = 36
    out_dim: int = 16
    freq_dim: int = 256
    image_dim: int = 1280  # CLIP ViT-H/14 penultimate features
    patch_size: tuple[int, int, int] = (1, 2, 2)
    eps: float = 1e-6
    local_attn_size: int = 6  # latent frames kept in the KV caches
    num_frame_per_block: int = 3
    action: ActionConfig = field(default_factory=ActionConfig)
    # sampling (inference_universal.yaml)
    denoising_steps: tuple[int, ...] = (1000, 666, 333)
    timestep_shift: float = 5.0
    context_noise: int = 0

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def tiny(cls) -> MatrixGameConfig:
        action = ActionConfig(blocks=(0,), hidden_size=8, keyboard_hidden_dim=16, mouse_hidden_dim=16, heads_num=2,
                              rope_dim_list=(4, 2, 2))
        return cls(dim=24, ffn_dim=48, num_heads=2, num_layers=2, image_dim=16, local_attn_size=6, action=action)
