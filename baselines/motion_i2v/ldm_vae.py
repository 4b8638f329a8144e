"""Stage 2's image VAE from an LDM-format single-file Stable Diffusion checkpoint, as upstream builds it.

Upstream's ``scripts/app.py`` (G-U-N/Motion-I2V bc787e1) does not use SD 1.5's ``vae`` folder
weights for stage 2: it builds an ``AutoencoderKL`` from that folder's config, then loads the
``first_stage_model.*`` tensors of ``models/stage2/DreamBooth_LoRA/realisticVisionV51_v20Novae.safetensors``
(Realistic Vision V5.1, the "no VAE" variant, in the original LDM naming) converted to diffusers
names. Stage 1 keeps SD 1.5's ``vae`` folder (upstream's ``vae_img``).

Here the file's header is read first and its VAE tensors are compared, name by name and shape by
shape, with the LDM layout that the local diffusers config implies (``ldm_vae_layout``); only then
are those tensors (not the 2 GB of UNet and text encoder beside them) read and converted with
diffusers' own ``convert_ldm_vae_checkpoint`` and loaded strictly. The config is always a local
file or mapping: nothing here reaches the Hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from baselines.motion_i2v.checkpoint import layout_problems, read_header
from longvgenbench.errors import MismatchError

LDM_VAE_PREFIX = "first_stage_model."


def _norm(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (channels,), f"{prefix}.bias": (channels,)}


def _conv(prefix: str, cout: int, cin: int, kernel: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (cout, cin, kernel, kernel), f"{prefix}.bias": (cout,)}


def _resnet(prefix: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    names = {**_norm(f"{prefix}.norm1", cin), **_conv(f"{prefix}.conv1", cout, cin, 3),
             **_norm(f"{prefix}.norm2", cout), **_conv(f"{prefix}.conv2", cout, cout, 3)}
    if cin != cout:
        names.update(_conv(f"{prefix}.nin_shortcut", cout, cin, 1))
    return names


def _mid(prefix: str, channels: int, attention: bool) -> dict[str, tuple[int, ...]]:
    names = {**_resnet(f"{prefix}.block_1", channels, channels), **_resnet(f"{prefix}.block_2", channels, channels)}
    if attention:  # the LDM attention projections are 1x1 convolutions
        names.update(_norm(f"{prefix}.attn_1.norm", channels))
        for proj in ("q", "k", "v", "proj_out"):
            names.update(_conv(f"{prefix}.attn_1.{proj}", channels, channels, 1))
    return names


def ldm_vae_layout(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every ``first_stage_model.*`` tensor name and shape an LDM checkpoint of this diffusers VAE config holds.

    Why derived and not listed: the real file cannot be read here; the layout follows from the
    config (the original ``ldm.modules.diffusionmodules.model`` Encoder/Decoder), and
    ``tests/test_motion_i2v_vae.py`` checks at SD 1.5's real size that diffusers' converter maps
    exactly these names onto exactly ``AutoencoderKL``'s parameters.
    """
    channels = list(config["block_out_channels"])
    layers = int(config["layers_per_block"])
    latent = int(config["latent_channels"])
    attention = bool(config.get("mid_block_add_attention", True))
    top = channels[-1]
    names: dict[str, tuple[int, ...]] = _conv("encoder.conv_in", channels[0], int(config["in_channels"]), 3)
    cin = channels[0]
    for level, cout in enumerate(channels):
        for j in range(layers):
            names.update(_resnet(f"encoder.down.{level}.block.{j}", cin, cout))
            cin = cout
        if level < len(channels) - 1:
            names.update(_conv(f"encoder.down.{level}.downsample.conv", cout, cout, 3))
    names.update(_mid("encoder.mid", top, attention))
    names.update({**_norm("encoder.norm_out", top), **_conv("encoder.conv_out", 2 * latent, top, 3)})
    names.update({**_conv("decoder.conv_in", top, latent, 3), **_mid("decoder.mid", top, attention)})
    cin = top
    for level in reversed(range(len(channels))):
        cout = channels[level]
        for j in range(layers + 1):
            names.update(_resnet(f"decoder.up.{level}.block.{j}", cin, cout))
            cin = cout
        if level > 0:
            names.update(_conv(f"decoder.up.{level}.upsample.conv", cout, cout, 3))
    names.update({**_norm("decoder.norm_out", channels[0]),
                  **_conv("decoder.conv_out", int(config["out_channels"]), channels[0], 3)})
    if config.get("use_quant_conv", True):
        names.update(_conv("quant_conv", 2 * latent, 2 * latent, 1))
    if config.get("use_post_quant_conv", True):
        names.update(_conv("post_quant_conv", latent, latent, 1))
    return {LDM_VAE_PREFIX + k: v for k, v in names.items()}


def check_ldm_vae_header(path: Path, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The file's VAE tensors (names and shapes), or ``MismatchError`` naming what differs from the layout."""
    found = {k: v for k, v in read_header(path).items() if k.startswith(LDM_VAE_PREFIX)}
    if not found:
        raise MismatchError(f"{path} holds no tensor named {LDM_VAE_PREFIX}*: not an LDM-format single-file "
                            f"Stable Diffusion checkpoint with a VAE (Motion-I2V stage 2 needs its VAE)")
    problems = layout_problems(found, ldm_vae_layout(config))
    if problems:
        raise MismatchError(f"the VAE tensors of {path} do not match the LDM layout of the SD 1.5 VAE config: "
                            + "; ".join(problems))
    return found


def load_ldm_vae(path: Path | str, config: Mapping[str, Any]):
    """An ``AutoencoderKL`` with ``config`` and the VAE weights of the LDM single file ``path`` (header-checked)."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    from safetensors import safe_open

    path = Path(path)
    if path.suffix != ".safetensors":
        raise MismatchError(f"{path}: expected a .safetensors single file (upstream reads it with safe_open)")
    names = check_ldm_vae_header(path, config)
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in names}
    converted = convert_ldm_vae_checkpoint(state, dict(config))
    vae = AutoencoderKL.from_config(dict(config))
    problems = layout_problems({k: tuple(v.shape) for k, v in converted.items()},
                               {k: tuple(v.shape) for k, v in vae.state_dict().items()})
    if problems:  # only if diffusers' converter and our layout disagree: never load partially
        raise MismatchError(f"diffusers' convert_ldm_vae_checkpoint turned {path} into something AutoencoderKL "
                            f"does not hold: " + "; ".join(problems))
    vae.load_state_dict(converted, strict=True)
    return vae.eval()
