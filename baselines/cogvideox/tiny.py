"""Tiny random CogVideoX-5B-I2V weights folders, written with each library's own ``save_pretrained``.

For tests and for the other CogVideoX adapters' tests: nothing is downloaded (the tokenizer is a
word-level ``tokenizers`` model built here), every component is randomly initialised at toy
size in the layout of ``THUDM/CogVideoX-5b-I2V``, so ``loading.load_components`` reads it
exactly as it reads the real folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from baselines.cogvideox import configs

WORDS = ["clip", "0", "1", "2", "3", "a", "the", "road", "car", "tree", "sky", "camera", "moves", "scene"]


def write_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
                            ).save_pretrained(path)


def write_tiny_folder(root: Path, native_frames: int = 9, height: int = 32, width: int = 48, seed: int = 0,
                      with_transformer: bool = True) -> Path:
    """Write a complete tiny folder for a native segment of ``native_frames`` x ``height`` x ``width``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if with_transformer:
        configs.build_transformer(configs.tiny_transformer_config(native_frames, height, width)).save_pretrained(
            root / "transformer")
    configs.build_vae(configs.tiny_vae_config(height, width)).save_pretrained(root / "vae")
    configs.build_text_encoder({**configs.TINY_TEXT_ENCODER, "vocab_size": len(WORDS) + 3}).save_pretrained(
        root / "text_encoder")
    write_tokenizer(root / "tokenizer")
    configs.build_scheduler().save_pretrained(root / "scheduler")
    return root


__all__ = ["WORDS", "write_tiny_folder", "write_tokenizer"]
