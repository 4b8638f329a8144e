"""Build LongVie 2 from a weights folder: every header checked before any tensor is read.

The folder layout is the one of ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`` (``transformer/``,
``vae/``, ``text_encoder/``, ``tokenizer/``, ``image_encoder/``, ``image_processor/``) plus a
``longvie2/`` folder with the official ``control.safetensors`` and ``dit.safetensors``. The
tests write tiny random models in exactly this layout with ``save_pretrained``, so the real
loading code is what they run. ``transformer/`` may hold the base in diffusers naming or in the
original Wan naming (``Wan-AI/Wan2.1-I2V-14B-480P`` shards): ``checkpoint.base_naming`` tells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from longvgenbench.errors import WeightsUnavailableError
from longvie import checkpoint as ck
from longvie.config import LongVie2Config
from longvie.model import LongVie2Transformer
from longvie.pipeline import WanComponents

CONTROL_FILE = "longvie2/control.safetensors"
OVERLAY_FILE = "longvie2/dit.safetensors"


@dataclass(frozen=True)
class WeightsFolder:
    """The files of one weights folder, found and checked for presence."""

    root: Path
    transformer_shards: tuple[Path, ...]
    control: Path | None
    overlay: Path | None

    @classmethod
    def find(cls, root: Path | str, with_controller: bool = True) -> WeightsFolder:
        root = Path(root)
        shards = tuple(sorted((root / "transformer").glob("*.safetensors")))
        if not shards:
            raise WeightsUnavailableError("Wan2.1 I2V transformer weights", root / "transformer",
                                          "no *.safetensors there; see `longvgenbench weights list` for the files")
        control = root / CONTROL_FILE
        if with_controller and not control.is_file():
            raise WeightsUnavailableError("LongVie 2 control weights (control.safetensors)", control,
                                          "fetch Vchitect/LongVie2 control.safetensors "
                                          "(`longvgenbench weights fetch longvie2-control`)")
        overlay = root / OVERLAY_FILE
        return cls(root, shards, control if with_controller else None, overlay if overlay.is_file() else None)


def config_from_folder(folder: WeightsFolder) -> LongVie2Config:
    """The transformer config: the base from ``transformer/config.json``, the controller from its header."""
    path = folder.root / "transformer" / "config.json"
    try:
        base = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ck.CheckpointError(f"{path} cannot be read as the transformer config: {exc}") from exc
    heads, head_dim = int(base["num_attention_heads"]), int(base["attention_head_dim"])
    fields = dict(num_layers=int(base["num_layers"]), num_heads=heads, head_dim=head_dim,
                  ffn_dim=int(base["ffn_dim"]), in_channels=int(base["in_channels"]),
                  out_channels=int(base["out_channels"]), text_dim=int(base["text_dim"]),
                  freq_dim=int(base["freq_dim"]), image_dim=int(base["image_dim"]), eps=float(base["eps"]),
                  rope_max_seq_len=int(base.get("rope_max_seq_len", 1024)),
                  patch_size=tuple(base["patch_size"]))
    if folder.control is None:
        return LongVie2Config(**fields, control_layers=0, control_heads=max(1, heads // 2),
                              control_ffn_dim=max(1, int(base["ffn_dim"]) // 2))
    header = ck.read_header(folder.control)
    names = [n[len(ck.CONTROL_PREFIX):] if n.startswith(ck.CONTROL_PREFIX) else n for n in header]
    layers = {int(n.split(".")[1]) for n in names if n.startswith("control_blocks_dense.")}
    try:
        ffn = header[_with_prefix(header, "control_blocks_dense.0.ffn.0.weight")].shape[0]
        control_dim = header[_with_prefix(header, "control_initial_combine_linear_dense.weight")].shape[0]
    except KeyError as exc:
        raise ck.CheckpointError(f"{folder.control} lacks {exc.args[0]}: not a LongVie 2 control checkpoint") from exc
    return LongVie2Config(**fields, control_layers=len(layers), control_heads=control_dim // head_dim,
                          control_ffn_dim=ffn)


def _with_prefix(header: dict[str, ck.TensorInfo], name: str) -> str:
    return name if name in header else ck.CONTROL_PREFIX + name


def load_transformer(folder: WeightsFolder, dtype: torch.dtype = torch.float32,
                     config: LongVie2Config | None = None) -> LongVie2Transformer:
    """Meta-build the model, check base + overlay + control headers, then load (overlay over base)."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    config = config or config_from_folder(folder)
    with torch.device("meta"):
        model = LongVie2Transformer(config, with_controller=folder.control is not None)
    base_header, base_where = ck.read_headers(folder.transformer_shards)
    reports = [(ck.check_base(model, base_header, f"Wan2.1 base ({folder.root / 'transformer'})"), base_where,
                folder.transformer_shards)]
    for path, check, what in ((folder.overlay, ck.check_overlay, "dit.safetensors overlay"),
                              (folder.control, ck.check_control, "control checkpoint")):
        if path is not None:
            header = ck.read_header(path)
            reports.append((check(model, header, f"{what} ({path})"), dict.fromkeys(header, path), (path,)))
    for report, _, _ in reports:
        report.raise_if_bad()
    for report, where, files in reports:
        ck.load_checked(model, files, report, where, dtype)
    model.base.rope = WanRotaryPosEmbed(config.head_dim, config.patch_size, config.rope_max_seq_len)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise ck.CheckpointError(f"{len(leftover)} tensors were never loaded: {leftover[:8]}")
    return model.to(dtype).eval()


def load_components(root: Path | str, dtype: torch.dtype = torch.float32) -> WanComponents:
    """VAE, umT5, tokenizer, CLIP vision encoder and its processor from their ``save_pretrained`` folders."""
    from diffusers import AutoencoderKLWan
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionModel, UMT5EncoderModel

    root = Path(root)
    for sub in ("vae", "text_encoder", "tokenizer", "image_encoder", "image_processor"):
        if not (root / sub).is_dir():
            raise WeightsUnavailableError(f"Wan2.1 I2V {sub}", root / sub,
                                          "the folder must have the layout of Wan-AI/Wan2.1-I2V-14B-480P-Diffusers")
    return WanComponents(
        vae=AutoencoderKLWan.from_pretrained(root / "vae", torch_dtype=torch.float32),
        text_encoder=UMT5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype),
        tokenizer=AutoTokenizer.from_pretrained(root / "tokenizer"),
        image_encoder=CLIPVisionModel.from_pretrained(root / "image_encoder", dtype=torch.float32),
        image_processor=CLIPImageProcessor.from_pretrained(root / "image_processor"),
    )


__all__ = ["CONTROL_FILE", "OVERLAY_FILE", "WeightsFolder", "config_from_folder", "load_components",
           "load_transformer"]
