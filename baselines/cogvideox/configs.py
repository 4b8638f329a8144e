"""CogVideoX-5B-I2V component configs: the published ones and tiny ones for tests.

Importable without PyAV or anything of ``longvgenbench`` (the GPU speed cases run where neither
is installed): only torch, diffusers and transformers, imported inside the builders.

``REAL_*`` are the configs of ``THUDM/CogVideoX-5b-I2V`` (its ``transformer/config.json``,
``vae/config.json``, ``text_encoder/config.json`` (google/t5-v1_1-xxl encoder),
``scheduler/scheduler_config.json``), written down from the published model definition so the
meta-device tests and speed cases can build the real-size model without the weights. The I2V
transformer doubles ``in_channels`` (noise + image latents) and uses learned positional
embeddings, so it only runs at its sample size (13 latent frames, 60x90 latents = 49x480x720).
"""

from __future__ import annotations

from typing import Any

REAL_TRANSFORMER: dict[str, Any] = {
    "activation_fn": "gelu-approximate", "attention_bias": True, "attention_head_dim": 64, "dropout": 0.0,
    "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 32, "max_text_seq_length": 226,
    "norm_elementwise_affine": True, "norm_eps": 1e-5, "num_attention_heads": 48, "num_layers": 42,
    "out_channels": 16, "patch_size": 2, "sample_frames": 49, "sample_height": 60, "sample_width": 90,
    "spatial_interpolation_scale": 1.875, "temporal_compression_ratio": 4, "temporal_interpolation_scale": 1.0,
    "text_embed_dim": 4096, "time_embed_dim": 512, "timestep_activation_fn": "silu",
    "use_learned_positional_embeddings": True, "use_rotary_positional_embeddings": True,
}
REAL_VAE: dict[str, Any] = {
    "act_fn": "silu", "block_out_channels": [128, 256, 256, 512], "in_channels": 3, "out_channels": 3,
    "latent_channels": 16, "layers_per_block": 3, "norm_eps": 1e-6, "norm_num_groups": 32,
    "sample_height": 480, "sample_width": 720, "scaling_factor": 0.7, "temporal_compression_ratio": 4,
    "use_post_quant_conv": False, "use_quant_conv": False, "invert_scale_latents": False,
}
REAL_TEXT_ENCODER: dict[str, Any] = {
    "vocab_size": 32128, "d_model": 4096, "d_kv": 64, "d_ff": 10240, "num_layers": 24, "num_heads": 64,
    "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6, "dropout_rate": 0.1, "tie_word_embeddings": False,
}
#: ``CogVideoXDPMScheduler`` (the 5B models' sampler; 2B uses DDIM with the same schedule).
SCHEDULER: dict[str, Any] = {
    "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
    "clip_sample_range": 1.0, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True, "sample_max_value": 1.0, "set_alpha_to_one": True, "snr_shift_scale": 1.0,
    "steps_offset": 0, "timestep_spacing": "trailing",
}
#: what the pipeline pads every prompt to (T5 tokens); the transformer's text length must equal it
TEXT_TOKENS = 226
VAE_SPATIAL = 8
VAE_TEMPORAL = 4
LATENT_CHANNELS = 16


def tiny_transformer_config(native_frames: int, height: int, width: int) -> dict[str, Any]:
    """A 2-layer, 32-wide I2V transformer for a tiny native size (sizes must fit the VAE's 8x / 4x)."""
    check_native_size(native_frames, height, width)
    return {**REAL_TRANSFORMER, "attention_head_dim": 16, "num_attention_heads": 2, "num_layers": 2,
            "text_embed_dim": 16, "time_embed_dim": 16, "sample_frames": native_frames,
            "sample_height": height // VAE_SPATIAL, "sample_width": width // VAE_SPATIAL}


def tiny_vae_config(height: int, width: int) -> dict[str, Any]:
    return {**REAL_VAE, "block_out_channels": [8, 8, 8, 8], "layers_per_block": 1, "norm_num_groups": 4,
            "sample_height": height, "sample_width": width}


TINY_TEXT_ENCODER: dict[str, Any] = {**REAL_TEXT_ENCODER, "d_model": 16, "d_kv": 8, "d_ff": 32, "num_layers": 1,
                                     "num_heads": 2, "relative_attention_num_buckets": 8}


def check_native_size(native_frames: int, height: int, width: int) -> None:
    """CogVideoX needs 4k+1 frames and sizes divisible by 16 (8x VAE, 2x2 patches)."""
    if native_frames < 5 or (native_frames - 1) % VAE_TEMPORAL:
        raise ValueError(f"CogVideoX needs 4k+1 frames (k >= 1), got {native_frames}")
    if height % 16 or width % 16 or height <= 0 or width <= 0:
        raise ValueError(f"CogVideoX needs a size divisible by 16, got {height}x{width}")


def latent_shape(native_frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
    """(batch, latent frames, channels, h, w) of the pipeline's ``latents`` for one segment."""
    check_native_size(native_frames, height, width)
    return (1, (native_frames - 1) // VAE_TEMPORAL + 1, LATENT_CHANNELS, height // VAE_SPATIAL, width // VAE_SPATIAL)


def build_transformer(config: dict[str, Any]):
    from diffusers import CogVideoXTransformer3DModel

    return CogVideoXTransformer3DModel(**config)


def build_vae(config: dict[str, Any]):
    from diffusers import AutoencoderKLCogVideoX

    return AutoencoderKLCogVideoX(**{k: v for k, v in config.items() if k not in ("sample_height", "sample_width")},
                                  sample_height=config["sample_height"], sample_width=config["sample_width"])


def build_text_encoder(config: dict[str, Any]):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(**config))


def build_scheduler():
    from diffusers import CogVideoXDPMScheduler

    return CogVideoXDPMScheduler(**SCHEDULER)


__all__ = ["LATENT_CHANNELS", "REAL_TEXT_ENCODER", "REAL_TRANSFORMER", "REAL_VAE", "SCHEDULER", "TEXT_TOKENS",
           "TINY_TEXT_ENCODER", "build_scheduler", "build_text_encoder", "build_transformer", "build_vae",
           "check_native_size", "latent_shape", "tiny_transformer_config", "tiny_vae_config"]
