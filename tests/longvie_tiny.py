"""Tiny random LongVie 2 weights folders, written with each library's own ``save_pretrained``.

Nothing is downloaded: the tokenizer is a word-level ``tokenizers`` model built here, the
umT5 / CLIP / VAE / Wan transformer are randomly initialised at toy sizes, and the LongVie 2
files are written in the official naming (``control.safetensors``, ``dit.safetensors``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from longvgenbench.records import SegmentControls, Split
from longvgenbench.video_io import LOSSLESS, write_video
from longvie import checkpoint as ck
from longvie.config import TINY_CONFIG, LongVie2Config
from longvie.model import LongVie2Transformer

WORDS = ["clip", "0", "1", "2", "a", "the", "road", "car", "tree", "sky"]


def tiny_transformer(config: LongVie2Config = TINY_CONFIG, seed: int = 0) -> LongVie2Transformer:
    """A random tiny model whose zero-initialised layers are perturbed, so the controller matters."""
    torch.manual_seed(seed)
    model = LongVie2Transformer(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("controller.") and p.abs().sum() == 0:
                p.normal_(0.0, 0.2)
    return model.eval()


def tiny_forward_inputs(config: LongVie2Config = TINY_CONFIG, grid: tuple[int, int, int] = (3, 4, 6),
                        seed: int = 0) -> dict[str, torch.Tensor]:
    """Keyword inputs of one ``LongVie2Transformer`` forward (batch 1): latents, text and image context,
    image condition, both control streams and two history latents, on a (frames, height, width) latent grid."""
    g = torch.Generator().manual_seed(seed)
    frames, h, w = grid
    return {"latents": torch.randn(1, 16, frames, h, w, generator=g), "timestep": torch.full((1,), 996.0),
            "text_embeds": torch.randn(1, 512, config.text_dim, generator=g),
            "image_embeds": torch.randn(1, 257, config.image_dim, generator=g),
            "image_condition": torch.randn(1, 20, frames, h, w, generator=g),
            "dense": torch.randn(1, 36, frames, h, w, generator=g),
            "sparse": torch.randn(1, 36, frames, h, w, generator=g),
            "history": torch.randn(1, 16, 2, h, w, generator=g)}


def overlay_state(model: LongVie2Transformer, scale: float = 0.01, seed: int = 1) -> dict[str, torch.Tensor]:
    """A ``dit.safetensors``-style overlay (original Wan names) of perturbed self-attention weights."""
    g = torch.Generator().manual_seed(seed)
    back = {"to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "o", "norm_q": "norm_q", "norm_k": "norm_k"}
    out = {}
    for name, tensor in model.state_dict().items():
        if ck.is_self_attention(name):
            m = re.fullmatch(r"base\.blocks\.(\d+)\.attn1\.(.+)\.(weight|bias)", name)
            official = f"blocks.{m.group(1)}.self_attn.{back[m.group(2)]}.{m.group(3)}"
            out[official] = (tensor + scale * torch.randn(tensor.shape, generator=g)).contiguous()
    return out


def write_tiny_folder(root: Path, config: LongVie2Config = TINY_CONFIG, with_overlay: bool = True) -> Path:
    """Write a complete tiny weights folder (the layout ``longvie.loading`` reads)."""
    from diffusers import AutoencoderKLWan
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        PreTrainedTokenizerFast,
        UMT5Config,
        UMT5EncoderModel,
    )

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = tiny_transformer(config)
    model.base.save_pretrained(root / "transformer")
    ck.save_control(model, root / "longvie2" / "control.safetensors")
    if with_overlay:
        save_file(overlay_state(model), str(root / "longvie2" / "dit.safetensors"))
    AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1).save_pretrained(root / "vae")
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
                            ).save_pretrained(root / "tokenizer")
    UMT5EncoderModel(UMT5Config(vocab_size=len(vocab), d_model=config.text_dim, d_kv=8, d_ff=32, num_layers=1,
                                num_heads=2, relative_attention_num_buckets=8)).save_pretrained(root / "text_encoder")
    CLIPVisionModel(CLIPVisionConfig(hidden_size=config.image_dim, intermediate_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, image_size=224, patch_size=14)
                    ).save_pretrained(root / "image_encoder")
    CLIPImageProcessor().save_pretrained(root / "image_processor")
    return root


def add_controls(split: Split, root: Path) -> Split:
    """Give every segment of a hand-built split a depth and a track video (deterministic patterns)."""
    samples = []
    grid = split.grid
    for s_index, sample in enumerate(split.samples):
        segments = []
        for seg in sample.segments:
            rng = np.random.default_rng([s_index, seg.index])
            t = np.arange(seg.num_frames, dtype=np.float32)[:, None, None]
            y = np.arange(grid.height, dtype=np.float32)[None, :, None]
            depth = np.clip(40 + 3 * y + 0.5 * t + 0 * np.zeros((1, 1, grid.width)), 0, 255).astype(np.uint8)
            depth = np.repeat(depth[..., None], 3, axis=-1)
            track = np.zeros((seg.num_frames, grid.height, grid.width, 3), np.uint8)
            for x0, y0 in rng.integers(2, min(grid.height, grid.width) - 4, size=(6, 2)):
                for k in range(seg.num_frames):
                    x = int(x0 + k * 0.1) % (grid.width - 2)
                    track[k, y0:y0 + 2, x:x + 2] = (x0 * 5 % 255, y0 * 7 % 255, 200)
            folder = root / sample.video_id
            d = write_video(folder / f"depth_{seg.index}.mkv", depth, grid.fps, LOSSLESS)
            tr = write_video(folder / f"track_{seg.index}.mkv", track, grid.fps, LOSSLESS)
            segments.append(replace(seg, controls=SegmentControls(depth_video=d, track_video=tr)))
        samples.append(replace(sample, segments=tuple(segments)))
    return replace(split, samples=tuple(samples))
