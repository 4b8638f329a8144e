"""Build LongVie 2 from a weights folder: every header checked before any tensor is read.

The folder layout is the one of ``Wan-AI/Wan2.1-I2V-14B-480P-Diffusers`` (``transformer/``,
``vae/``, ``text_encoder/``, ``tokenizer/``, ``image_encoder/``, ``image_processor/``) plus a
``longvie2/`` folder with the official ``control.safetensors`` and ``dit.safetensors``. The
tests write tiny random models in exactly this layout with ``save_pretrained``, so the real
loading code is what they run. ``transformer/`` may hold the base in diffusers naming or in the
original Wan naming (``Wan-AI/Wan2.1-I2V-14B-480P`` shards): ``checkpoint.base_naming`` tells.

The folder may instead have the layout of the *original* ``Wan-AI/Wan2.1-I2V-14B-480P`` repository:
``diffusion_pytorch_model-0000N-of-0000M.safetensors`` + its index and a ``config.json`` in Wan's own
format (``dim``, ``in_dim``, ``num_heads``, ...) at the top, beside ``models_t5_umt5-xxl-enc-bf16.pth``,
``models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth`` and ``Wan2.1_VAE.pth``. The DiT shards
are header-checked and mapped to our names like any base checkpoint. The three ``.pth`` components
are torch pickles in Wan's own module naming that this package does not convert; their diffusers
folders (``vae/``, ``text_encoder/``, ``tokenizer/``, ``image_encoder/``, ``image_processor/``) come
from the diffusers port, in the same folder or in a separate ``components`` folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from longvgenbench.errors import WeightsUnavailableError
from longvie import checkpoint as ck
from longvie.catalog import WAN_DIFFUSERS_REPO, WAN_DIFFUSERS_REVISION
from longvie.config import LongVie2Config
from longvie.model import LongVie2Transformer
from longvie.pipeline import WanComponents

CONTROL_FILE = "longvie2/control.safetensors"
OVERLAY_FILE = "longvie2/dit.safetensors"
DIFFUSERS_LAYOUT = "diffusers"
ORIGINAL_LAYOUT = "wan-original"
SHARD_INDEX = "diffusion_pytorch_model.safetensors.index.json"
#: The diffusers component folders, and the original-format file each one replaces.
COMPONENT_FOLDERS = ("vae", "text_encoder", "tokenizer", "image_encoder", "image_processor")
ORIGINAL_COMPONENT_FILES = {"vae": "Wan2.1_VAE.pth", "text_encoder": "models_t5_umt5-xxl-enc-bf16.pth",
                            "tokenizer": "google/umt5-xxl",
                            "image_encoder": "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth",
                            "image_processor": "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"}
#: Wan's ``WanModel`` defaults for what its ``config.json`` may leave out; the CLIP feature width
#: (1280, ViT-H/14) and the RoPE table length (1024) are fixed in Wan's code, not in the config.
_WAN_DEFAULTS = {"patch_size": [1, 2, 2], "text_dim": 4096, "freq_dim": 256, "eps": 1e-6}
_WAN_IMAGE_DIM = 1280
_WAN_ROPE_MAX_SEQ_LEN = 1024


@dataclass(frozen=True)
class WeightsFolder:
    """The files of one weights folder, found and checked for presence."""

    root: Path
    transformer_shards: tuple[Path, ...]
    control: Path | None
    overlay: Path | None
    #: ``diffusers`` (``transformer/`` + diffusers config) or ``wan-original`` (shards + Wan config at the top)
    layout: str = DIFFUSERS_LAYOUT

    @classmethod
    def find(cls, root: Path | str, with_controller: bool = True) -> WeightsFolder:
        root = Path(root)
        layout = DIFFUSERS_LAYOUT
        shards = tuple(sorted((root / "transformer").glob("*.safetensors")))
        if not shards:
            layout = ORIGINAL_LAYOUT
            shards = tuple(sorted(root.glob("diffusion_pytorch_model*.safetensors")))
        if not shards:
            raise WeightsUnavailableError("Wan2.1 I2V transformer weights", root / "transformer",
                                          "no *.safetensors there, nor original-format "
                                          "diffusion_pytorch_model*.safetensors shards in the folder itself; "
                                          "see `longvgenbench weights ls` for the files")
        _check_index(shards[0].parent, shards)
        control = root / CONTROL_FILE
        if with_controller and not control.is_file():
            raise WeightsUnavailableError("LongVie 2 control weights (control.safetensors)", control,
                                          "fetch Vchitect/LongVie2 control.safetensors "
                                          "(`longvgenbench weights fetch longvie2-control`)")
        overlay = root / OVERLAY_FILE
        return cls(root, shards, control if with_controller else None, overlay if overlay.is_file() else None,
                   layout)


def _check_index(folder: Path, shards: tuple[Path, ...]) -> None:
    """Every shard the index lists must be there (a missing one is named, not reported as missing tensors)."""
    index = folder / SHARD_INDEX
    if not index.is_file():
        return
    try:
        listed = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (OSError, json.JSONDecodeError, KeyError, AttributeError) as exc:
        raise ck.CheckpointError(f"{index} cannot be read as a safetensors shard index: {exc}") from exc
    present = {p.name for p in shards}
    absent = [name for name in listed if name not in present]
    if absent:
        raise WeightsUnavailableError(f"Wan2.1 I2V transformer shard {absent[0]}", folder / absent[0],
                                      f"{index.name} lists {len(listed)} shards, {len(absent)} are missing "
                                      f"({', '.join(absent[:4])}); fetch them (`longvgenbench weights fetch "
                                      f"wan2.1-i2v-14b-480p:{absent[0]}` for the registered original shards, "
                                      f"`longvgenbench weights ls` lists them)")


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ck.CheckpointError(f"{path} cannot be read as {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise ck.CheckpointError(f"{path} is not {what} (not a JSON object)")
    return data


def diffusers_base_fields(path: Path) -> dict:
    """LongVie2Config base fields from a diffusers ``WanTransformer3DModel`` ``config.json``."""
    base = _read_json(path, "the transformer config")
    try:
        heads, head_dim = int(base["num_attention_heads"]), int(base["attention_head_dim"])
        return dict(num_layers=int(base["num_layers"]), num_heads=heads, head_dim=head_dim,
                    ffn_dim=int(base["ffn_dim"]), in_channels=int(base["in_channels"]),
                    out_channels=int(base["out_channels"]), text_dim=int(base["text_dim"]),
                    freq_dim=int(base["freq_dim"]), image_dim=int(base["image_dim"]), eps=float(base["eps"]),
                    rope_max_seq_len=int(base.get("rope_max_seq_len", 1024)),
                    patch_size=tuple(base["patch_size"]))
    except KeyError as exc:
        raise ck.CheckpointError(f"{path} lacks {exc.args[0]!r}: not a diffusers WanTransformer3DModel config "
                                 f"(an original Wan folder keeps its shards and config.json at the top)") from exc


def wan_original_base_fields(path: Path) -> dict:
    """LongVie2Config base fields from the ``config.json`` of an original Wan2.1 repository (``WanModel``).

    Only image-to-video checkpoints fit (``model_type`` i2v: CLIP cross-attention, 36 input channels);
    a text-to-video or first-last-frame checkpoint is refused by name. Wan's configs have no
    ``image_dim`` (CLIP ViT-H/14's 1280 is fixed in Wan's code); a folder may set one (tiny test models do).
    """
    raw = _read_json(path, "an original Wan2.1 config")
    model_type = raw.get("model_type")
    if model_type != "i2v":
        raise ck.CheckpointError(f"{path} has model_type {model_type!r}; LongVie 2 and wan2.1-i2v need an "
                                 "original Wan2.1 image-to-video checkpoint (model_type 'i2v')")
    base = {**_WAN_DEFAULTS, **raw}
    try:
        dim, heads = int(base["dim"]), int(base["num_heads"])
        if dim % heads:
            raise ck.CheckpointError(f"{path}: dim {dim} does not divide by num_heads {heads}")
        return dict(num_layers=int(base["num_layers"]), num_heads=heads, head_dim=dim // heads,
                    ffn_dim=int(base["ffn_dim"]), in_channels=int(base["in_dim"]), out_channels=int(base["out_dim"]),
                    text_dim=int(base["text_dim"]), freq_dim=int(base["freq_dim"]),
                    image_dim=int(base.get("image_dim", _WAN_IMAGE_DIM)),
                    eps=float(base["eps"]), rope_max_seq_len=_WAN_ROPE_MAX_SEQ_LEN,
                    patch_size=tuple(int(v) for v in base["patch_size"]))
    except KeyError as exc:
        raise ck.CheckpointError(f"{path} lacks {exc.args[0]!r}: not an original Wan2.1 WanModel config") from exc


def config_from_folder(folder: WeightsFolder) -> LongVie2Config:
    """The transformer config: the base from its ``config.json`` (either layout), the controller from its header."""
    if folder.layout == ORIGINAL_LAYOUT:
        fields = wan_original_base_fields(folder.root / "config.json")
    else:
        fields = diffusers_base_fields(folder.root / "transformer" / "config.json")
    heads, head_dim = fields["num_heads"], fields["head_dim"]
    if folder.control is None:
        return LongVie2Config(**fields, control_layers=0, control_heads=max(1, heads // 2),
                              control_ffn_dim=max(1, int(fields["ffn_dim"]) // 2))
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
    reports = [(ck.check_base(model, base_header, f"Wan2.1 base ({folder.transformer_shards[0].parent})"), base_where,
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
    for sub in COMPONENT_FOLDERS:
        if not (root / sub).is_dir():
            original = ORIGINAL_COMPONENT_FILES[sub]
            if (root / original).exists() or any(root.glob("diffusion_pytorch_model*.safetensors")):
                raise WeightsUnavailableError(
                    f"Wan2.1 I2V {sub}", root / sub,
                    f"{root} is an original-format Wan folder: the {sub} there ({original}) is in Wan's own format, "
                    f"which longvgenbench does not convert; add the diffusers port's component folders "
                    f"(`huggingface-cli download {WAN_DIFFUSERS_REPO} --revision {WAN_DIFFUSERS_REVISION} "
                    + " ".join(f"--include '{c}/*'" for c in COMPONENT_FOLDERS)
                    + f" --local-dir {root}`) or pass the model option components=<a folder with them>")
            raise WeightsUnavailableError(f"Wan2.1 I2V {sub}", root / sub,
                                          "the folder must have the layout of Wan-AI/Wan2.1-I2V-14B-480P-Diffusers")
    return WanComponents(
        vae=AutoencoderKLWan.from_pretrained(root / "vae", torch_dtype=torch.float32),
        text_encoder=UMT5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype),
        tokenizer=AutoTokenizer.from_pretrained(root / "tokenizer"),
        image_encoder=CLIPVisionModel.from_pretrained(root / "image_encoder", dtype=torch.float32),
        image_processor=CLIPImageProcessor.from_pretrained(root / "image_processor"),
    )


__all__ = ["COMPONENT_FOLDERS", "CONTROL_FILE", "DIFFUSERS_LAYOUT", "ORIGINAL_LAYOUT", "OVERLAY_FILE",
           "WeightsFolder", "config_from_folder", "diffusers_base_fields", "load_components", "load_transformer",
           "wan_original_base_fields"]
