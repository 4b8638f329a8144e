"""Build DiffusionAsShader from a pipeline folder: every transformer header checked before any tensor is read.

The folder has the layout of the Hub repository ``EXCAI/Diffusion-As-Shader`` (diffusers
``save_pretrained`` of the whole pipeline). The tests write tiny random pipelines in exactly this
layout, so the code they run is the real loading path.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch

from baselines.das import checkpoint as ck
from baselines.das.model import DiffusionAsShaderTransformer
from baselines.das.pipeline import CogVideoXParts
from longvgenbench.errors import WeightsUnavailableError


def transformer_shards(root: Path) -> tuple[Path, ...]:
    shards = tuple(sorted((root / "transformer").glob("*.safetensors")))
    if not shards:
        raise WeightsUnavailableError("DiffusionAsShader transformer weights", root / "transformer",
                                      "no *.safetensors there; the folder must be the Hub repo "
                                      "EXCAI/Diffusion-As-Shader")
    return shards


def transformer_config(root: Path, header: dict[str, ck.TensorInfo]) -> dict[str, Any]:
    """Constructor arguments from ``transformer/config.json``; the branch depth is read from the header.

    Upstream's own ``save_pretrained`` writes ``num_tracking_blocks``; a config without it (a plain
    CogVideoX config) gets the count of ``transformer_blocks_copy.N`` in the checkpoint.
    """
    path = root / "transformer" / "config.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ck.CheckpointError(f"{path} cannot be read as the transformer config: {exc}") from exc
    accepted = set(inspect.signature(DiffusionAsShaderTransformer.__init__).parameters) - {"self"}
    config = {k: v for k, v in raw.items() if k in accepted}
    in_header = ck.tracking_blocks_in(header)
    if in_header == 0:
        raise ck.CheckpointError(f"{root / 'transformer'} holds no tracking blocks (transformer_blocks_copy.*): "
                                 "it is a plain CogVideoX checkpoint, not DiffusionAsShader's")
    if "num_tracking_blocks" in config and int(config["num_tracking_blocks"]) != in_header:
        raise ck.CheckpointError(f"{path} says num_tracking_blocks={config['num_tracking_blocks']} but the "
                                 f"checkpoint holds {in_header} tracking blocks")
    config["num_tracking_blocks"] = in_header
    return config


def load_transformer(root: Path | str, dtype: torch.dtype = torch.float32) -> DiffusionAsShaderTransformer:
    """Meta-build the model from the folder's config, check the shards' headers, then load them."""
    root = Path(root)
    header, where = ck.read_headers(transformer_shards(root))
    config = transformer_config(root, header)
    with torch.device("meta"):
        model = DiffusionAsShaderTransformer(**config)
    report = ck.check_transformer(model, header, f"DiffusionAsShader transformer ({root / 'transformer'})")
    report.raise_if_bad()
    ck.load_checked(model, report, where, dtype)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise ck.CheckpointError(f"{len(leftover)} tensors were never loaded: {leftover[:8]}")
    return model.to(dtype).eval()


def load_parts(root: Path | str, dtype: torch.dtype = torch.float32, with_text_encoder: bool = True
               ) -> CogVideoXParts:
    """VAE, T5 encoder, tokenizer and the DPM scheduler (trailing timesteps, as upstream's inference).

    ``with_text_encoder=False`` leaves T5 out (callers then pass prompt embeddings).
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler
    from transformers import AutoTokenizer, T5EncoderModel

    root = Path(root)
    for sub in ("vae", "scheduler", *(("text_encoder", "tokenizer") if with_text_encoder else ())):
        if not (root / sub).is_dir():
            raise WeightsUnavailableError(f"DiffusionAsShader {sub}", root / sub,
                                          "the folder must have the layout of EXCAI/Diffusion-As-Shader")
    config = CogVideoXDPMScheduler.load_config(root / "scheduler")
    return CogVideoXParts(
        vae=AutoencoderKLCogVideoX.from_pretrained(root / "vae", torch_dtype=dtype),
        scheduler=CogVideoXDPMScheduler.from_config(config, timestep_spacing="trailing"),
        text_encoder=T5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype) if with_text_encoder else None,
        tokenizer=AutoTokenizer.from_pretrained(root / "tokenizer") if with_text_encoder else None,
    )


__all__ = ["load_parts", "load_transformer", "transformer_config", "transformer_shards"]
