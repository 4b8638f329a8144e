"""Stage deterministic random weights in the OFFICIAL file formats, laid out as VBench 0.1.5 caches them.

Both implementations then load the very same numbers: VBench from its cache layout
(``$VBENCH_CACHE_DIR``; DINO through torch hub, i.e. ``$TORCH_HOME/hub/checkpoints``), we through
the evaluators' checkpoint options (or ``longvgenbench.weights``, which also searches the VBench
cache). Random weights are all that is needed to prove that two implementations compute the same
function; no real checkpoint can be downloaded here anyway.

Profiles:
- ``full``: the official architectures at their real sizes (DINO ViT-B/16, CLIP ViT-B/32,
  CLIP ViT-L/14 + the LAION 768->1 head). Big files; VBench needs minutes on CPU.
- ``tiny``: the same file formats and the same code paths with small widths/depths where the format
  lets the loader infer the size (OpenAI CLIP state dicts do; the DINO hub entry point builds a fixed
  ViT-B/16, so DINO stays full size in every profile). The aesthetic head is fixed at 768 inputs,
  so the tiny CLIPs keep ``embed_dim`` = 768.

Formats:
- DINO ``dino_vitbase16_pretrain.pth``: a plain ``torch.save`` state dict of facebookresearch/dino's
  ``VisionTransformer`` (fp32), loaded with ``strict=True`` by its hubconf.
- OpenAI CLIP ``ViT-B-32.pt`` / ``ViT-L-14.pt``: a TorchScript archive whose ``state_dict()`` holds
  the OpenAI keys in fp16 (what ``clip.load`` and ``open_clip`` read: they rebuild the model from it).
- LAION ``sa_0_4_vit_l_14_linear.pth``: ``torch.save`` of an ``nn.Linear(768, 1)`` state dict.

Other dimensions add a function to :data:`STAGERS` (name -> function writing files, returning them).

Usage: ``python tests/parity/stage_weights.py OUT_DIR [--profile tiny|full] [--dims a,b] [--dino-repo GIT_DIR]``
(``--dino-repo``: a clone or bare mirror of facebookresearch/dino, copied OUTSIDE the repo, only
needed by the live VBench run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

VBENCH_DIR = "vbench"  # the VBench cache root inside the staging dir (VBENCH_CACHE_DIR)
TORCH_HOME_DIR = "torch_home"  # TORCH_HOME inside the staging dir


@dataclass(frozen=True)
class StagedFile:
    """One staged file: where it lies (relative to the staging dir) and what it holds."""

    relpath: str
    sha256: str
    content_sha256: str  # over sorted tensor names, dtypes, shapes and bytes: stable even if the archive bytes are not
    description: str


@dataclass(frozen=True)
class CLIPShape:
    """The sizes an OpenAI CLIP state dict encodes (and ``clip.model.build_model`` infers back)."""

    vision_width: int
    vision_layers: int
    patch_size: int
    grid: int
    text_width: int
    text_layers: int
    embed_dim: int
    vocab_size: int = 49408
    context_length: int = 77


CLIP_SHAPES: dict[str, dict[str, CLIPShape]] = {
    "full": {
        "ViT-B-32": CLIPShape(768, 12, 32, 7, 512, 12, 512),
        "ViT-L-14": CLIPShape(1024, 24, 14, 16, 768, 12, 768),
    },
    "tiny": {
        "ViT-B-32": CLIPShape(128, 2, 32, 7, 64, 1, 768, vocab_size=512),
        "ViT-L-14": CLIPShape(128, 3, 14, 16, 64, 1, 768, vocab_size=512),
    },
}


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def _randn(name: str, shape: tuple[int, ...], std: float, mean: float = 0.0) -> torch.Tensor:
    """N(mean, std) with a generator seeded by the tensor's name: same numbers on every machine."""
    generator = torch.Generator().manual_seed(_seed(name))
    return torch.randn(shape, generator=generator, dtype=torch.float32) * std + mean


def _layer_norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": _randn(f"{prefix}.weight", (width,), 0.1, 1.0),
            f"{prefix}.bias": _randn(f"{prefix}.bias", (width,), 0.05)}


def _linear(prefix: str, out_dim: int, in_dim: int, std: float | None = None) -> dict[str, torch.Tensor]:
    std = in_dim**-0.5 if std is None else std
    return {f"{prefix}.weight": _randn(f"{prefix}.weight", (out_dim, in_dim), std),
            f"{prefix}.bias": _randn(f"{prefix}.bias", (out_dim,), 0.02)}


def dino_state_dict(tag: str = "dino") -> dict[str, torch.Tensor]:
    """facebookresearch/dino ``vit_base`` (patch 16, 12 blocks, width 768, no head) with random values."""
    width, patch, depth = 768, 16, 12
    p = f"{tag}."
    state = {
        "cls_token": _randn(p + "cls_token", (1, 1, width), 0.02),
        "pos_embed": _randn(p + "pos_embed", (1, 197, width), 0.02),
        "patch_embed.proj.weight": _randn(p + "patch", (width, 3, patch, patch), 0.04),
        "patch_embed.proj.bias": _randn(p + "patch.bias", (width,), 0.02),
    }
    for i in range(depth):
        b = f"blocks.{i}"
        state |= {k: v for k, v in _layer_norm(b + ".norm1", width).items()}
        state |= _linear(b + ".attn.qkv", 3 * width, width)
        state |= _linear(b + ".attn.proj", width, width, 0.5 * width**-0.5)
        state |= _layer_norm(b + ".norm2", width)
        state |= _linear(b + ".mlp.fc1", 4 * width, width)
        state |= _linear(b + ".mlp.fc2", width, 4 * width, 0.5 * (4 * width) ** -0.5)
    state |= _layer_norm("norm", width)
    return {k: v.contiguous() for k, v in state.items()}


def _resblocks(prefix: str, width: int, layers: int) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for i in range(layers):
        b = f"{prefix}.resblocks.{i}"
        state[f"{b}.attn.in_proj_weight"] = _randn(f"{b}.attn.in_proj_weight", (3 * width, width), width**-0.5)
        state[f"{b}.attn.in_proj_bias"] = _randn(f"{b}.attn.in_proj_bias", (3 * width,), 0.02)
        state |= _linear(f"{b}.attn.out_proj", width, width, 0.5 * width**-0.5)
        state |= _layer_norm(f"{b}.ln_1", width)
        state |= _linear(f"{b}.mlp.c_fc", 4 * width, width)
        state |= _linear(f"{b}.mlp.c_proj", width, 4 * width, 0.5 * (4 * width) ** -0.5)
        state |= _layer_norm(f"{b}.ln_2", width)
    return state


def clip_state_dict(tag: str, shape: CLIPShape) -> dict[str, torch.Tensor]:
    """An OpenAI CLIP (ViT) state dict with random values, in fp16 as OpenAI ships it."""
    vw, tw = shape.vision_width, shape.text_width
    state = {
        "positional_embedding": _randn(f"{tag}.pos", (shape.context_length, tw), 0.01),
        "text_projection": _randn(f"{tag}.text_projection", (tw, shape.embed_dim), tw**-0.5),
        "logit_scale": torch.tensor(4.6052),
        "token_embedding.weight": _randn(f"{tag}.tok", (shape.vocab_size, tw), 0.02),
        "visual.class_embedding": _randn(f"{tag}.cls", (vw,), 0.05),
        "visual.positional_embedding": _randn(f"{tag}.vpos", (shape.grid**2 + 1, vw), 0.05),
        "visual.conv1.weight": _randn(f"{tag}.conv1", (vw, 3, shape.patch_size, shape.patch_size),
                                      1.5 * (3 * shape.patch_size**2) ** -0.5),
        "visual.proj": _randn(f"{tag}.proj", (vw, shape.embed_dim), vw**-0.5),
    }
    state |= _layer_norm(f"{tag}.visual.ln_pre", vw)
    state |= _resblocks(f"{tag}.visual.transformer", vw, shape.vision_layers)
    state |= _layer_norm(f"{tag}.visual.ln_post", vw)
    state |= _resblocks(f"{tag}.transformer", tw, shape.text_layers)
    state |= _layer_norm(f"{tag}.ln_final", tw)
    renamed = {k.removeprefix(f"{tag}."): v for k, v in state.items()}
    return {k: v.half().contiguous() for k, v in renamed.items()}


def _container(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A module tree whose ``state_dict()`` is exactly ``state`` (parameters named as in the dict)."""
    root = torch.nn.Module()
    for key, value in state.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, torch.nn.Module())
            node = getattr(node, part)
        node.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))
    return root


def save_torchscript_state(state: dict[str, torch.Tensor], path: Path) -> None:
    """Save ``state`` as a TorchScript archive, as OpenAI's CLIP files are (both loaders call ``.state_dict()``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch marks TorchScript deprecated; the official files are TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(_container(state)), str(path))


def content_sha256(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StageContext:
    out: Path
    profile: str
    dino_repo: Path | None

    @property
    def vbench(self) -> Path:
        return self.out / VBENCH_DIR

    def staged(self, path: Path, state: dict[str, torch.Tensor], description: str) -> StagedFile:
        return StagedFile(str(path.relative_to(self.out)), file_sha256(path), content_sha256(state), description)


def stage_dino(ctx: StageContext) -> list[StagedFile]:
    """DINO ViT-B/16: the VBench cache copy, the torch hub copy the official hubconf really loads, and the hub code."""
    state = dino_state_dict()
    vb_path = ctx.vbench / "dino_model" / "dino_vitbase16_pretrain.pth"
    vb_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, vb_path)
    hub_path = ctx.out / TORCH_HOME_DIR / "hub" / "checkpoints" / "dino_vitbase16_pretrain.pth"
    hub_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vb_path, hub_path)
    if ctx.dino_repo is not None:
        stage_dino_code(ctx.dino_repo, ctx.vbench / "dino_model" / "facebookresearch_dino_main")
    return [ctx.staged(vb_path, state, "DINO ViT-B/16 (random), VBench cache"),
            ctx.staged(hub_path, state, "DINO ViT-B/16 (random), torch hub cache")]


def stage_dino_code(repo: Path, target: Path) -> None:
    """Copy facebookresearch/dino's code (a work tree, or its Python files from a bare git dir) to VBench's hub dir."""
    if target.is_dir():
        return
    target.mkdir(parents=True)
    if (repo / "hubconf.py").is_file():
        shutil.copytree(repo, target, dirs_exist_ok=True)
        return
    command = ["git", f"--git-dir={repo}", "archive", "HEAD", "--", "*.py", "LICENSE"]
    archive = subprocess.run(command, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)


def stage_clip(ctx: StageContext, name: str) -> StagedFile:
    state = clip_state_dict(f"{ctx.profile}.{name}", CLIP_SHAPES[ctx.profile][name])
    path = ctx.vbench / "clip_model" / f"{name}.pt"
    save_torchscript_state(state, path)
    return ctx.staged(path, state, f"OpenAI CLIP {name} ({ctx.profile} profile, random), TorchScript")


def stage_aesthetic(ctx: StageContext) -> list[StagedFile]:
    head = {"weight": _randn("laion.head.weight", (1, 768), 768**-0.5 * 20),
            "bias": _randn("laion.head.bias", (1,), 1.0, 5.0)}
    path = ctx.vbench / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(head, path)
    return [stage_clip(ctx, "ViT-L-14"), ctx.staged(path, head, "LAION aesthetic linear head 768->1 (random)")]


STAGERS: dict[str, Callable[[StageContext], list[StagedFile]]] = {
    "subject_consistency": stage_dino,
    "background_consistency": lambda ctx: [stage_clip(ctx, "ViT-B-32")],
    "aesthetic_quality": stage_aesthetic,
}


def _stage_motion(ctx: StageContext, dim: str) -> list[StagedFile]:
    """The motion/quality dimensions' random weights (``stage_motion``; real sizes in every profile)."""
    import stage_motion

    hub = ctx.out / TORCH_HOME_DIR / "hub" / "checkpoints"
    if dim == "dynamic_degree":
        raft = stage_motion.raft_state()
        original = {f"module.{k}": v for k, v in stage_motion.torchvision_to_raft_things(raft).items()}
        files = [(hub / "raft_large_C_T_V1-22a6c225.pth", raft, raft, "RAFT-large (random), torchvision layout"),
                 (ctx.vbench / "raft_model" / "models" / "raft-things.pth", original, original,
                  "the same RAFT tensors in the original raft-things layout, VBench cache")]
    elif dim == "imaging_quality":
        musiq = stage_motion.musiq_state()
        files = [(ctx.vbench / "pyiqa_model" / "musiq_spaq_ckpt-358bb6af.pth", musiq, musiq, "pyiqa MUSIQ (random)")]
    else:
        amt = stage_motion.amt_state()
        files = [(ctx.vbench / "amt_model" / "amt-s.pth", {"state_dict": amt}, amt, "AMT-S (random), release format")]
    staged = []
    for path, payload, state, description in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)
        staged.append(ctx.staged(path, state, description))
    return staged


def _stage_viclip(ctx: StageContext) -> list[StagedFile]:
    import stage_viclip

    return stage_viclip.stage_viclip(ctx)


STAGERS |= {
    "dynamic_degree": lambda ctx: _stage_motion(ctx, "dynamic_degree"),
    "imaging_quality": lambda ctx: _stage_motion(ctx, "imaging_quality"),
    "motion_smoothness": lambda ctx: _stage_motion(ctx, "motion_smoothness"),
    "overall_consistency": _stage_viclip,
}


def stage(out: Path, profile: str = "tiny", dims: list[str] | None = None, dino_repo: Path | None = None) -> dict:
    """Stage the weights of ``dims`` (default: every known dimension) into ``out``; returns the manifest."""
    if profile not in CLIP_SHAPES:
        raise ValueError(f"profile must be one of {sorted(CLIP_SHAPES)}, got {profile!r}")
    dims = list(STAGERS) if dims is None else dims
    unknown = [d for d in dims if d not in STAGERS]
    if unknown:
        raise ValueError(f"no stager for {unknown}; known: {sorted(STAGERS)}")
    ctx = StageContext(Path(out), profile, dino_repo)
    files = {dim: [asdict(f) for f in STAGERS[dim](ctx)] for dim in dims}
    manifest = {"profile": profile, "torch": torch.__version__, "files": files}
    (ctx.out / f"manifest.{profile}.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--profile", default="tiny", choices=sorted(CLIP_SHAPES))
    parser.add_argument("--dims", default=None, help="comma-separated dimensions (default: all known)")
    parser.add_argument("--dino-repo", type=Path, default=None)
    args = parser.parse_args(argv)
    manifest = stage(args.out, args.profile, args.dims.split(",") if args.dims else None, args.dino_repo)
    json.dump(manifest, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
