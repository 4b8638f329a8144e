"""Deterministic random ViCLIP weights in the official checkpoint format, and the parity captions.

``ViClip-InternVid-10M-FLT.pth`` is a ``torch.save`` of ``{"model": state_dict}`` with the names of
InternVid's ViCLIP (``vision_encoder.conv1.weight`` (W, 3, 1, 14, 14), ``vision_encoder.
temporal_positional_embedding`` (1, 8, W), ``text_encoder.positional_embedding`` (32, W_t), ``temp``,
...). VBench 0.1.5 loads it from ``$VBENCH_CACHE_DIR/ViCLIP/`` together with OpenAI's
``bpe_simple_vocab_16e6.txt.gz`` (copied here from open_clip's package: the same file, same sha256).

Profiles (as in ``stage_weights.py``):

- ``full``: ViCLIP-L/14 at its real size (vision 1024 x 24, text 768 x 12; about 430M values,
  stored in fp16 to halve the file). VBench loads it unmodified.
- ``tiny``: the same names and layout with small widths/depths (vision 128 x 2, text 64 x 2,
  embedding 64; still 224 px, 14 px patches, 8 frames, 32 tokens and the full 49,408-token
  vocabulary). VBench hard-codes ViCLIP-L/14's sizes, so ``run_vbench.py`` builds VBench's *own*
  ``VisionTransformer`` / ``CLIP_TEXT`` classes at these sizes (:func:`patch_vbench_for_tiny`)
  and everything else (tokenizer, frame sampling, transforms, scoring) runs as released.

This module needs only torch (the VBench venv imports it too).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from stage_weights import StageContext, StagedFile, _layer_norm, _randn, _resblocks

VICLIP_DIR = "ViCLIP"
CHECKPOINT = "ViClip-InternVid-10M-FLT.pth"
VOCAB = "bpe_simple_vocab_16e6.txt.gz"


@dataclass(frozen=True)
class ViCLIPShape:
    vision_width: int
    vision_layers: int
    text_width: int
    text_layers: int
    embed_dim: int
    patch_size: int = 14
    image_size: int = 224
    num_frames: int = 8
    context_length: int = 32
    vocab_size: int = 49408

    @property
    def vision_heads(self) -> int:
        return max(1, self.vision_width // 64)

    @property
    def text_heads(self) -> int:
        return max(1, self.text_width // 64)


SHAPES = {"full": ViCLIPShape(1024, 24, 768, 12, 768), "tiny": ViCLIPShape(128, 2, 64, 2, 64)}

# Captions the parity run gives VBench (prompt_list) and our evaluator (segment caption): short and
# long (cut at 32 tokens), HTML entities, mojibake for ftfy, odd whitespace, upper case, digits.
CAPTIONS = {
    "static_64x112_16fps": "A still photograph of a colourful abstract painting on a wall.",
    "pan_96x160_16fps": "The camera pans slowly to the right across a smooth, colourful landscape of soft "
                        "waves and round blobs, while the light stays constant and nothing else moves at all "
                        "in the scene for the whole duration of the shot.",
    "fast_120x80_24fps": "Bright   squares JUMP\tacross the frame &amp; the background scrolls diagonally.",
    "alternate_72x128_8fps": "Two unrelated pictures flicker back and forth, 8 times per second.",
    "fade_480x832_16fps": "A slow cross-fade between two dreamy textures \u2014 caf\u00c3\u00a9 colours, "
                          "grainy noise &lt;film&gt; look, 480p.",
    "fast_250x338_30fps": "Fast-moving shapes over a rolling backdrop; chaotic motion at 30 fps " * 3,
}


def caption(name: str) -> str:
    """The caption of a fixture (a default for fixtures added later)."""
    return CAPTIONS.get(name, name.replace("_", " "))


def viclip_state_dict(profile: str) -> dict[str, torch.Tensor]:
    """Random ViCLIP tensors under the official names (seeded by name: the same on every machine)."""
    s = SHAPES[profile]
    tag, vw, tw, p = f"viclip.{profile}", s.vision_width, s.text_width, s.patch_size
    v = {
        "conv1.weight": _randn(f"{tag}.conv1", (vw, 3, 1, p, p), 1.5 * (3 * p * p) ** -0.5),
        "class_embedding": _randn(f"{tag}.cls", (vw,), 0.05),
        "positional_embedding": _randn(f"{tag}.vpos", ((s.image_size // p) ** 2 + 1, vw), 0.05),
        "temporal_positional_embedding": _randn(f"{tag}.tpos", (1, s.num_frames, vw), 0.05),
        "proj": _randn(f"{tag}.proj", (vw, s.embed_dim), vw**-0.5),
    }
    v |= {k.removeprefix(f"{tag}.v."): t for k, t in _layer_norm(f"{tag}.v.ln_pre", vw).items()}
    v |= {k.removeprefix(f"{tag}.v."): t for k, t in _resblocks(f"{tag}.v.transformer", vw, s.vision_layers).items()}
    v |= {k.removeprefix(f"{tag}.v."): t for k, t in _layer_norm(f"{tag}.v.ln_post", vw).items()}
    t = {
        "token_embedding.weight": _randn(f"{tag}.tok", (s.vocab_size, tw), 0.05),
        "positional_embedding": _randn(f"{tag}.tpos_text", (s.context_length, tw), 0.02),
        "text_projection": _randn(f"{tag}.text_projection", (tw, s.embed_dim), tw**-0.5),
    }
    t |= {k.removeprefix(f"{tag}.t."): x for k, x in _resblocks(f"{tag}.t.transformer", tw, s.text_layers).items()}
    t |= {k.removeprefix(f"{tag}.t."): x for k, x in _layer_norm(f"{tag}.t.ln_final", tw).items()}
    state = {f"vision_encoder.{k}": x for k, x in v.items()} | {f"text_encoder.{k}": x for k, x in t.items()}
    state["temp"] = torch.tensor(0.01)
    dtype = torch.float16 if profile == "full" else torch.float32
    return {k: x.to(dtype).contiguous() for k, x in state.items()}


def vocab_source() -> Path:
    """OpenAI's BPE vocabulary from whichever package this interpreter has (open_clip or clip)."""
    for module in ("open_clip", "clip"):
        try:
            package = __import__(module)
        except ImportError:
            continue
        path = Path(package.__file__).parent / VOCAB
        if path.is_file():
            return path
    raise FileNotFoundError(f"{VOCAB} not found: install open_clip_torch (or OpenAI's clip)")


def stage_viclip(ctx: StageContext) -> list[StagedFile]:
    """Write ``ViCLIP/ViClip-InternVid-10M-FLT.pth`` and ``ViCLIP/bpe_simple_vocab_16e6.txt.gz`` into the cache."""
    state = viclip_state_dict(ctx.profile)
    path = ctx.vbench / VICLIP_DIR / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state}, path)
    vocab = ctx.vbench / VICLIP_DIR / VOCAB
    shutil.copyfile(vocab_source(), vocab)
    import stage_weights

    return [ctx.staged(path, state, f"ViCLIP ({ctx.profile} profile, random), official {{'model': ...}} format"),
            StagedFile(str(vocab.relative_to(ctx.out)), stage_weights.file_sha256(vocab),
                       stage_weights.file_sha256(vocab), "OpenAI CLIP BPE vocabulary (copied from the package)")]


def patch_vbench_for_tiny(profile: str) -> None:
    """Make VBench's ViCLIP build its own tower classes at the staged profile's sizes (no-op for ``full``)."""
    if profile == "full":
        return
    from vbench.third_party.ViCLIP import viclip, viclip_text, viclip_vision

    s = SHAPES[profile]

    def vision(**kwargs: object) -> torch.nn.Module:
        return viclip_vision.VisionTransformer(
            input_resolution=s.image_size, patch_size=s.patch_size, width=s.vision_width, layers=s.vision_layers,
            heads=s.vision_heads, output_dim=s.embed_dim, kernel_size=1, num_frames=s.num_frames,
            drop_path=kwargs.get("drop_path", 0.0), checkpoint_num=kwargs.get("checkpoint_num", 0),
            dropout=kwargs.get("dropout", 0.0)).eval()

    def text(**kwargs: object) -> torch.nn.Module:
        return viclip_text.CLIP_TEXT(s.embed_dim, s.context_length, s.vocab_size, s.text_width, s.text_heads,
                                     s.text_layers, 0).eval()

    viclip.clip_joint_l14 = vision
    viclip.clip_text_l14 = text
