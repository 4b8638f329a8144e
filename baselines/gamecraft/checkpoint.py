"""Official GameCraft checkpoints (``mp_rank_00_model_states*.pt``) -> ``GameCraftTransformer``, checked first.

Upstream loads its checkpoint with ``strict=False`` and no report, so a truncated or renamed file
silently gives a model that runs and is wrong. Here the file's tensor names and shapes are read
first (a ``.pt`` file through ``torch.load(mmap=True, weights_only=True)``, which maps the file
without reading the 25 GB of data; a ``.safetensors`` file from its header), compared with the names
and shapes upstream's ``HYVideoDiffusionTransformer`` has at the configured size
(``official_shapes``), and any missing, unexpected or mis-shaped tensor raises ``CheckpointError``
naming them before anything is loaded.

Name mapping (upstream HunyuanVideo naming -> diffusers ``HunyuanVideoTransformer3DModel``):
fused ``*_qkv`` projections are split in three; a single block's ``linear1`` is split into
q | k | v | mlp-in; the final layer's ``adaLN_modulation`` is (shift, scale) upstream and
(scale, shift) in diffusers, so its halves are swapped; ``camera_net.*`` keeps its names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from baselines.gamecraft.model import GameCraftConfig, GameCraftTransformer
from longvgenbench.errors import LongVGenBenchError

LOAD_KEY = "module"  # upstream's ``--load-key`` default
_SHOWN = 8


class CheckpointError(LongVGenBenchError):
    """A checkpoint does not match the model: names what is missing, unexpected or mis-shaped."""


@dataclass(frozen=True)
class Piece:
    """Rows [start, stop) of an official tensor fill our parameter ``ours`` (halves swapped if ``swap``)."""

    ours: str
    start: int | None = None
    stop: int | None = None
    swap_halves: bool = False


def official_shapes(config: GameCraftConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of upstream's model at ``config``: name -> shape (the written-down expected list)."""
    h, t, pooled, lat = config.dim, config.text_dim, config.pooled_dim, config.latent_channels
    mlp, head, p = int(h * config.mlp_ratio), config.head_dim, config.patch_size
    cam = config.camera_in_channels * config.camera_downscale**2
    shapes: dict[str, tuple[int, ...]] = {
        "img_in.proj.weight": (h, config.in_channels, 1, p, p), "img_in.proj.bias": (h,),
        "txt_in.input_embedder.weight": (h, t), "txt_in.input_embedder.bias": (h,),
        "txt_in.t_embedder.mlp.0.weight": (h, 256), "txt_in.t_embedder.mlp.0.bias": (h,),
        "txt_in.t_embedder.mlp.2.weight": (h, h), "txt_in.t_embedder.mlp.2.bias": (h,),
        "txt_in.c_embedder.linear_1.weight": (h, t), "txt_in.c_embedder.linear_1.bias": (h,),
        "txt_in.c_embedder.linear_2.weight": (h, h), "txt_in.c_embedder.linear_2.bias": (h,),
        "time_in.mlp.0.weight": (h, 256), "time_in.mlp.0.bias": (h,),
        "time_in.mlp.2.weight": (h, h), "time_in.mlp.2.bias": (h,),
        "vector_in.in_layer.weight": (h, pooled), "vector_in.in_layer.bias": (h,),
        "vector_in.out_layer.weight": (h, h), "vector_in.out_layer.bias": (h,),
        "final_layer.linear.weight": (p * p * lat, h), "final_layer.linear.bias": (p * p * lat,),
        "final_layer.adaLN_modulation.1.weight": (2 * h, h), "final_layer.adaLN_modulation.1.bias": (2 * h,),
        "camera_net.scale": (1,),
        "camera_net.encode_first.0.weight": (cam // 2, cam, 1, 1), "camera_net.encode_first.0.bias": (cam // 2,),
        "camera_net.encode_first.1.weight": (cam // 2,), "camera_net.encode_first.1.bias": (cam // 2,),
        "camera_net.encode_second.0.weight": (cam // 4, cam // 2, 1, 1),
        "camera_net.encode_second.0.bias": (cam // 4,),
        "camera_net.encode_second.1.weight": (cam // 4,), "camera_net.encode_second.1.bias": (cam // 4,),
        "camera_net.final_proj.weight": (lat, cam // 4, 1, 1), "camera_net.final_proj.bias": (lat,),
        "camera_net.camera_in.proj.weight": (h, lat, 1, p, p), "camera_net.camera_in.proj.bias": (h,),
    }
    for b in range(config.refiner_layers):
        pre = f"txt_in.individual_token_refiner.blocks.{b}."
        shapes.update({pre + "norm1.weight": (h,), pre + "norm1.bias": (h,), pre + "norm2.weight": (h,),
                       pre + "norm2.bias": (h,), pre + "self_attn_qkv.weight": (3 * h, h),
                       pre + "self_attn_qkv.bias": (3 * h,), pre + "self_attn_proj.weight": (h, h),
                       pre + "self_attn_proj.bias": (h,), pre + "mlp.fc1.weight": (mlp, h),
                       pre + "mlp.fc1.bias": (mlp,),
                       pre + "mlp.fc2.weight": (h, mlp), pre + "mlp.fc2.bias": (h,),
                       pre + "adaLN_modulation.1.weight": (2 * h, h), pre + "adaLN_modulation.1.bias": (2 * h,)})
    for b in range(config.num_layers):
        for side in ("img", "txt"):
            pre = f"double_blocks.{b}.{side}_"
            shapes.update({pre + "mod.linear.weight": (6 * h, h), pre + "mod.linear.bias": (6 * h,),
                           pre + "attn_qkv.weight": (3 * h, h), pre + "attn_qkv.bias": (3 * h,),
                           pre + "attn_q_norm.weight": (head,), pre + "attn_k_norm.weight": (head,),
                           pre + "attn_proj.weight": (h, h), pre + "attn_proj.bias": (h,),
                           pre + "mlp.fc1.weight": (mlp, h), pre + "mlp.fc1.bias": (mlp,),
                           pre + "mlp.fc2.weight": (h, mlp), pre + "mlp.fc2.bias": (h,)})
    for b in range(config.num_single_layers):
        pre = f"single_blocks.{b}."
        shapes.update({pre + "linear1.weight": (3 * h + mlp, h), pre + "linear1.bias": (3 * h + mlp,),
                       pre + "linear2.weight": (h, h + mlp), pre + "linear2.bias": (h,),
                       pre + "q_norm.weight": (head,), pre + "k_norm.weight": (head,),
                       pre + "modulation.linear.weight": (3 * h, h), pre + "modulation.linear.bias": (3 * h,)})
    return shapes


_TOP = {"img_in.proj": "x_embedder.proj", "txt_in.input_embedder": "context_embedder.proj_in",
        "txt_in.t_embedder.mlp.0": "context_embedder.time_text_embed.timestep_embedder.linear_1",
        "txt_in.t_embedder.mlp.2": "context_embedder.time_text_embed.timestep_embedder.linear_2",
        "txt_in.c_embedder.linear_1": "context_embedder.time_text_embed.text_embedder.linear_1",
        "txt_in.c_embedder.linear_2": "context_embedder.time_text_embed.text_embedder.linear_2",
        "time_in.mlp.0": "time_text_embed.timestep_embedder.linear_1",
        "time_in.mlp.2": "time_text_embed.timestep_embedder.linear_2",
        "vector_in.in_layer": "time_text_embed.text_embedder.linear_1",
        "vector_in.out_layer": "time_text_embed.text_embedder.linear_2", "final_layer.linear": "proj_out"}
_REFINER = {"norm1": "norm1", "norm2": "norm2", "self_attn_proj": "attn.to_out.0", "mlp.fc1": "ff.net.0.proj",
            "mlp.fc2": "ff.net.2", "adaLN_modulation.1": "norm_out.linear"}
_DOUBLE = {"img_mod.linear": "norm1.linear", "txt_mod.linear": "norm1_context.linear",
           "img_attn_q_norm": "attn.norm_q", "img_attn_k_norm": "attn.norm_k", "img_attn_proj": "attn.to_out.0",
           "txt_attn_q_norm": "attn.norm_added_q", "txt_attn_k_norm": "attn.norm_added_k",
           "txt_attn_proj": "attn.to_add_out", "img_mlp.fc1": "ff.net.0.proj", "img_mlp.fc2": "ff.net.2",
           "txt_mlp.fc1": "ff_context.net.0.proj", "txt_mlp.fc2": "ff_context.net.2"}
_SINGLE = {"linear2": "proj_out", "q_norm": "attn.norm_q", "k_norm": "attn.norm_k", "modulation.linear": "norm.linear"}


def _qkv(prefix: str, names: tuple[str, str, str], kind: str, width: int) -> tuple[Piece, ...]:
    return tuple(Piece(f"{prefix}{n}.{kind}", i * width, (i + 1) * width) for i, n in enumerate(names))


def official_to_ours(name: str, config: GameCraftConfig) -> tuple[Piece, ...]:
    """Where an official tensor goes in our model (ValueError for a name upstream's model does not have)."""
    h, mlp = config.dim, int(config.dim * config.mlp_ratio)
    if name.startswith("camera_net."):
        return (Piece(name),)
    module, _, kind = name.rpartition(".")
    if module in _TOP:
        return (Piece(f"transformer.{_TOP[module]}.{kind}"),)
    if module == "final_layer.adaLN_modulation.1":
        return (Piece(f"transformer.norm_out.linear.{kind}", swap_halves=True),)
    match = re.fullmatch(r"txt_in\.individual_token_refiner\.blocks\.(\d+)\.(.+)", module)
    if match:
        pre = f"transformer.context_embedder.token_refiner.refiner_blocks.{match.group(1)}."
        if match.group(2) == "self_attn_qkv":
            return _qkv(pre + "attn.", ("to_q", "to_k", "to_v"), kind, h)
        if match.group(2) in _REFINER:
            return (Piece(f"{pre}{_REFINER[match.group(2)]}.{kind}"),)
    match = re.fullmatch(r"double_blocks\.(\d+)\.(.+)", module)
    if match:
        pre = f"transformer.transformer_blocks.{match.group(1)}."
        if match.group(2) == "img_attn_qkv":
            return _qkv(pre + "attn.", ("to_q", "to_k", "to_v"), kind, h)
        if match.group(2) == "txt_attn_qkv":
            return _qkv(pre + "attn.", ("add_q_proj", "add_k_proj", "add_v_proj"), kind, h)
        if match.group(2) in _DOUBLE:
            return (Piece(f"{pre}{_DOUBLE[match.group(2)]}.{kind}"),)
    match = re.fullmatch(r"single_blocks\.(\d+)\.(.+)", module)
    if match:
        pre = f"transformer.single_transformer_blocks.{match.group(1)}."
        if match.group(2) == "linear1":
            return (*_qkv(pre + "attn.", ("to_q", "to_k", "to_v"), kind, h),
                    Piece(f"{pre}proj_mlp.{kind}", 3 * h, 3 * h + mlp))
        if match.group(2) in _SINGLE:
            return (Piece(f"{pre}{_SINGLE[match.group(2)]}.{kind}"),)
    raise ValueError(f"not a Hunyuan-GameCraft tensor name: {name!r}")


# -- reading and checking -------------------------------------------------------------------------
def read_official_shapes(path: Path | str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of an official checkpoint without reading its data (.pt via mmap, or .safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                return {k: tuple(handle.get_slice(k).get_shape()) for k in handle.keys()}  # noqa: SIM118
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from exc
    return {k: tuple(v.shape) for k, v in _load_pt(path).items()}


def _load_pt(path: Path) -> Mapping[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:  # pickle / zip errors of every kind
        raise CheckpointError(f"{path} is not a readable torch checkpoint: {exc}") from exc
    if isinstance(data, Mapping) and LOAD_KEY in data:
        data = data[LOAD_KEY]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path} holds no state dict (expected {{'{LOAD_KEY}': state_dict}} as upstream saves)")
    return data


def check_official(found: Mapping[str, tuple[int, ...]], config: GameCraftConfig, what: str) -> None:
    """Raise ``CheckpointError`` naming every missing, unexpected or mis-shaped tensor."""
    expected = official_shapes(config)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    misshaped = [f"{n}: {list(found[n])} vs {list(expected[n])}" for n in sorted(set(found) & set(expected))
                 if tuple(found[n]) != expected[n]]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if items:
            more = f", ... ({len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{more}")
    if parts:
        raise CheckpointError(f"{what} does not match Hunyuan-GameCraft at {config.num_layers}+"
                              f"{config.num_single_layers} blocks, width {config.dim} ({'; '.join(parts)}); "
                              f"nothing was loaded")


def convert_state(official: Mapping[str, torch.Tensor], config: GameCraftConfig) -> dict[str, torch.Tensor]:
    """Official tensors -> our state dict (splits and swaps applied)."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in official.items():
        for piece in official_to_ours(name, config):
            value = tensor[piece.start:piece.stop] if piece.start is not None else tensor
            if piece.swap_halves:
                first, second = value.chunk(2, dim=0)
                value = torch.cat([second, first], dim=0)
            out[piece.ours] = value
    return out


def load_official(path: Path | str, config: GameCraftConfig, dtype: torch.dtype = torch.float32
                  ) -> GameCraftTransformer:
    """Check the file against ``config``, then build the model on the meta device and fill it (strict)."""
    path = Path(path)
    check_official(read_official_shapes(path), config, f"GameCraft checkpoint {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        official: Mapping[str, torch.Tensor] = load_file(str(path))
    else:
        official = _load_pt(path)
    with torch.device("meta"):
        model = GameCraftTransformer(config)
    state = {k: v.to(dtype) for k, v in convert_state(official, config).items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def save_official(model: GameCraftTransformer, path: Path | str) -> Path:
    """Write our model in upstream's format and naming (``{"module": state_dict}``); for tests and tools."""
    ours = model.state_dict()
    official: dict[str, torch.Tensor] = {}
    for name in official_shapes(model.config):
        pieces = official_to_ours(name, model.config)
        parts = [ours[p.ours] for p in pieces]
        value = torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]
        if pieces[0].swap_halves:
            first, second = value.chunk(2, dim=0)
            value = torch.cat([second, first], dim=0)
        official[name] = value.detach().clone().cpu()
    torch.save({LOAD_KEY: official}, Path(path))
    return Path(path)


__all__ = ["LOAD_KEY", "CheckpointError", "Piece", "check_official", "convert_state", "load_official",
           "official_shapes", "official_to_ours", "read_official_shapes", "save_official"]
