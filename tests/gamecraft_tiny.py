"""A tiny Hunyuan-GameCraft weights folder (official DiT format + diffusers-port components), built offline."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from longvgenbench.records import SegmentControls, Split

WORDS = ["a", "the", "clip", "camera", "moves", "forward", "scene", "village", "street", "0", "1", "2", "3", "4",
         "video", "describe"]


def write_tiny_folder(root: Path) -> Path:
    from diffusers import AutoencoderKLHunyuanVideo
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    from baselines.gamecraft.checkpoint import save_official
    from baselines.gamecraft.model import TINY_CONFIG, GameCraftTransformer

    torch.manual_seed(0)
    (root / "gamecraft_models").mkdir(parents=True, exist_ok=True)
    save_official(GameCraftTransformer(TINY_CONFIG), root / "gamecraft_models" / "mp_rank_00_model_states.pt")
    (root / "gamecraft_config.json").write_text(json.dumps(TINY_CONFIG.to_dict()))
    AutoencoderKLHunyuanVideo(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4,
                              mid_block_add_attention=False).save_pretrained(root / "vae")
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    for sub in ("tokenizer", "tokenizer_2"):
        tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
                                ).save_pretrained(root / sub)
    LlamaModel(LlamaConfig(vocab_size=len(vocab), hidden_size=TINY_CONFIG.text_dim, intermediate_size=32,
                           num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
                           pad_token_id=0)).save_pretrained(root / "text_encoder")
    CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=TINY_CONFIG.pooled_dim, intermediate_size=32,
                                 num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                                 eos_token_id=1, pad_token_id=0, bos_token_id=1)
                  ).save_pretrained(root / "text_encoder_2")
    return root


def add_cameras(split: Split, root: Path, forward_per_frame: float = 0.1, turn_deg_per_frame: float = 0.0) -> Split:
    """Give every segment a camera moving forward (+z, OpenCV axes) and optionally turning right."""
    samples = []
    for sample in split.samples:
        segments = []
        for seg in sample.segments:
            poses = []
            for k in range(seg.start, seg.stop):
                angle = np.radians(turn_deg_per_frame * k)
                rot = np.array([[np.cos(angle), 0, -np.sin(angle)], [0, 1, 0], [np.sin(angle), 0, np.cos(angle)]])
                centre = np.array([0.0, 0.0, forward_per_frame * k])
                pose = np.eye(4)
                pose[:3, :3], pose[:3, 3] = rot, -rot @ centre
                poses.append(pose)
            path = root / sample.video_id / f"camera_{seg.index}.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, intrinsics=np.eye(3), world_to_camera=np.stack(poses))
            segments.append(replace(seg, controls=SegmentControls(camera=path)))
        samples.append(replace(sample, segments=tuple(segments)))
    return replace(split, samples=tuple(samples))


def walking_split(root: Path, grid: object, turn_deg_per_frame: float) -> Split:
    """One tiny video of three segments whose camera walks forward 0.1 per frame and turns as asked (the world-model
    adapters' tests drive their action streams from it)."""
    from core_fixtures import make_tiny_split

    return add_cameras(make_tiny_split(root, num_videos=1, num_segments=3, grid=grid), root, 0.1, turn_deg_per_frame)
