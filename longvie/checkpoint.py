"""Official LongVie 2 / Wan2.1 checkpoints -> ``LongVie2Transformer``, checked before anything loads.

Upstream loads ``control.safetensors`` and ``dit.safetensors`` with ``strict=False`` and no
report, so a renamed, truncated or prefixed file silently yields a model that runs and is wrong.
Here every file's safetensors *header* (names, shapes, dtypes; no tensor data) is read first,
every name is mapped onto ours, and any missing, unexpected or mis-shaped tensor raises
``CheckpointError`` naming them, before a byte of weights is read.

Name mapping:
- base (original Wan naming, e.g. ``blocks.3.self_attn.q.weight``) -> ``base.`` + diffusers naming
  (``base.blocks.3.attn1.to_q.weight``); the diffusers port of the base is already in diffusers
  naming and only gets the ``base.`` prefix;
- ``control.safetensors`` (optionally under ``pipe.dual_controller.``) -> ``controller.``:
  ``control_blocks_dense.N`` -> ``dense_blocks.N`` (block internals renamed like the base),
  ``control_initial_combine_linear_dense`` -> ``dense_in``, ``control_text_linear`` ->
  ``text_proj``, ``control_t_mod`` -> ``time_proj``, ``control_combine_linears.N`` -> ``fusion.N``;
- ``dit.safetensors``: an overlay of the self-attention (10 tensors x every base block) in
  original naming; it must cover exactly the self-attention of every block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch

# the header reading moved to the core; re-exported because plug-in code and tests use it from here
from longvgenbench.checkpoints import CheckpointError, CheckReport, TensorInfo, read_header, read_headers  # noqa: F401

CONTROL_PREFIX = "pipe.dual_controller."
BASE_PREFIX = "model.diffusion_model."


# -- name mapping -------------------------------------------------------------------------------
_BLOCK_PARTS = {"self_attn": "attn1", "cross_attn": "attn2", "q": "to_q", "k": "to_k", "v": "to_v", "o": "to_out.0",
                "k_img": "add_k_proj", "v_img": "add_v_proj", "norm_k_img": "norm_added_k", "norm3": "norm2",
                "modulation": "scale_shift_table"}
_FFN = {"ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2"}
_TOP = {"time_embedding.0": "condition_embedder.time_embedder.linear_1",
        "time_embedding.2": "condition_embedder.time_embedder.linear_2",
        "time_projection.1": "condition_embedder.time_proj",
        "text_embedding.0": "condition_embedder.text_embedder.linear_1",
        "text_embedding.2": "condition_embedder.text_embedder.linear_2",
        "img_emb.proj.0": "condition_embedder.image_embedder.norm1",
        "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
        "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
        "img_emb.proj.4": "condition_embedder.image_embedder.norm2",
        "head.head": "proj_out", "head.modulation": "scale_shift_table", "patch_embedding": "patch_embedding"}


def block_name_to_diffusers(rest: str) -> str:
    """Inside one DiT block: original Wan naming -> diffusers ``WanTransformerBlock`` naming."""
    for old, new in _FFN.items():
        if rest.startswith(old + "."):
            return new + rest[len(old):]
    parts = rest.split(".")
    return ".".join(_BLOCK_PARTS.get(p, p) if i < len(parts) - 1 or p == "modulation" else p
                    for i, p in enumerate(parts))


def original_to_diffusers(name: str) -> str:
    """Base DiT: original Wan name -> diffusers ``WanTransformer3DModel`` name (ValueError if unknown)."""
    if name.startswith(BASE_PREFIX):
        name = name[len(BASE_PREFIX):]
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", name)
    if match:
        return f"blocks.{match.group(1)}.{block_name_to_diffusers(match.group(2))}"
    for old, new in _TOP.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    raise ValueError(f"not a Wan2.1 DiT tensor name: {name!r}")


def base_original_to_ours(name: str) -> str:
    return "base." + original_to_diffusers(name)


def base_diffusers_to_ours(name: str) -> str:
    return "base." + name


def control_name_to_ours(name: str) -> str:
    """``control.safetensors`` name (prefix allowed) -> our ``controller.`` parameter name."""
    if name.startswith(CONTROL_PREFIX):
        name = name[len(CONTROL_PREFIX):]
    match = re.fullmatch(r"control_blocks_(dense|sparse)\.(\d+)\.(.+)", name)
    if match:
        return f"controller.{match.group(1)}_blocks.{match.group(2)}.{block_name_to_diffusers(match.group(3))}"
    match = re.fullmatch(r"control_initial_combine_linear_(dense|sparse)\.(weight|bias)", name)
    if match:
        return f"controller.{match.group(1)}_in.{match.group(2)}"
    match = re.fullmatch(r"control_combine_linears\.(\d+)\.(weight|bias)", name)
    if match:
        return f"controller.fusion.{match.group(1)}.{match.group(2)}"
    match = re.fullmatch(r"control_(text_linear|t_mod)\.(weight|bias)", name)
    if match:
        return f"controller.{'text_proj' if match.group(1) == 'text_linear' else 'time_proj'}.{match.group(2)}"
    raise ValueError(f"not a LongVie 2 control tensor name: {name!r}")


_OVERLAY = re.compile(r"base\.blocks\.\d+\.attn1\.(to_q|to_k|to_v|to_out\.0|norm_q|norm_k)\.(weight|bias)")


def is_self_attention(our_name: str) -> bool:
    """Whether one of our parameter names is in the ``dit.safetensors`` overlay's scope."""
    return _OVERLAY.fullmatch(our_name) is not None


# -- checking -----------------------------------------------------------------------------------
def check_names(what: str, found: Mapping[str, TensorInfo], expected: Mapping[str, tuple[int, ...]],
                to_ours: Callable[[str], str]) -> CheckReport:
    """Compare a header (``found``) with the parameters it must fill exactly (``expected``, our names)."""
    mapping: dict[str, str] = {}
    unexpected: list[str] = []
    misshaped: list[str] = []
    for name, info in found.items():
        try:
            ours = to_ours(name)
        except ValueError:
            unexpected.append(name)
            continue
        if ours not in expected or ours in mapping.values():
            unexpected.append(name)
            continue
        if tuple(expected[ours]) != info.shape:
            misshaped.append(f"{name}: {list(info.shape)} vs {list(expected[ours])}")
            continue
        mapping[name] = ours
    covered = set(mapping.values()) | {to_ours(m.split(':')[0]) for m in misshaped}
    missing = sorted(set(expected) - covered)
    return CheckReport(what, mapping, tuple(missing), tuple(sorted(unexpected)), tuple(misshaped))


def parameter_shapes(model: torch.nn.Module, keep: Callable[[str], bool]) -> dict[str, tuple[int, ...]]:
    """Shapes of the model's state-dict entries that ``keep`` selects (works on the meta device)."""
    return {name: tuple(t.shape) for name, t in model.state_dict().items() if keep(name)}


def check_control(model: torch.nn.Module, header: Mapping[str, TensorInfo], what: str = "control checkpoint"
                  ) -> CheckReport:
    return check_names(what, header, parameter_shapes(model, lambda n: n.startswith("controller.")),
                       control_name_to_ours)


def check_overlay(model: torch.nn.Module, header: Mapping[str, TensorInfo], what: str = "dit.safetensors overlay"
                  ) -> CheckReport:
    return check_names(what, header, parameter_shapes(model, is_self_attention), base_original_to_ours)


def base_naming(header: Mapping[str, TensorInfo]) -> Callable[[str], str]:
    """Which naming a base checkpoint uses: original Wan (``self_attn``) or diffusers (``attn1``)."""
    if any(".attn1." in n for n in header):
        return base_diffusers_to_ours
    return base_original_to_ours


def check_base(model: torch.nn.Module, header: Mapping[str, TensorInfo], what: str = "Wan2.1 base checkpoint"
               ) -> CheckReport:
    return check_names(what, header, parameter_shapes(model, lambda n: n.startswith("base.")), base_naming(header))


# -- loading ------------------------------------------------------------------------------------
def load_checked(model: torch.nn.Module, files: Iterable[Path], report: CheckReport, where: Mapping[str, Path],
                 dtype: torch.dtype | None = None) -> int:
    """Load the tensors a passed ``report`` mapped, file by file (assign: meta models get real tensors)."""
    from safetensors import safe_open

    report.raise_if_bad()
    by_file: dict[Path, list[str]] = {}
    for name in report.mapping:
        by_file.setdefault(where[name], []).append(name)
    params = dict(model.named_parameters())
    params.update(dict(model.named_buffers()))
    loaded = 0
    for path in files:
        names = by_file.get(Path(path), [])
        if not names:
            continue
        state = {}
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            for name in names:
                ours = report.mapping[name]
                tensor = handle.get_tensor(name)
                target = params[ours]
                # an owned copy: safetensors' tensors sit at the file's offsets, and CPU matmuls can round by
                # an ulp differently for differently aligned weights (the same weights from two files differed)
                state[ours] = tensor.to(dtype or (target.dtype if not target.is_meta else tensor.dtype), copy=True)
        model.load_state_dict(state, strict=False, assign=True)
        loaded += len(state)
    return loaded


def load_file_checked(model: torch.nn.Module, path: Path, check: Callable[..., CheckReport], what: str,
                      dtype: torch.dtype | None = None) -> CheckReport:
    """Header check of one file with ``check`` (e.g. ``check_control``), then load it."""
    header = read_header(path)
    report = check(model, header, f"{what} ({path})")
    report.raise_if_bad()
    load_checked(model, [path], report, dict.fromkeys(header, Path(path)), dtype)
    return report


def save_control(model: torch.nn.Module, path: Path, prefix: str = "") -> Path:
    """Write the controller in the official ``control.safetensors`` naming (for training checkpoints)."""
    from safetensors.torch import save_file

    from longvgenbench.atomic import atomic_path

    inverse = official_control_names(model)
    state = {prefix + official: model.state_dict()[ours].detach().contiguous().cpu()
             for ours, official in inverse.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return path


def official_control_names(model: torch.nn.Module) -> dict[str, str]:
    """Our controller parameter names -> official ``control.safetensors`` names."""
    out: dict[str, str] = {}
    block_inverse = {v: k for k, v in _BLOCK_PARTS.items()}
    ffn_inverse = {v: k for k, v in _FFN.items()}
    for name in model.state_dict():
        if not name.startswith("controller."):
            continue
        rest = name[len("controller."):]
        match = re.fullmatch(r"(dense|sparse)_blocks\.(\d+)\.(.+)", rest)
        if match:
            inner = match.group(3)
            for new, old in ffn_inverse.items():
                if inner.startswith(new + "."):
                    inner = old + inner[len(new):]
                    break
            else:
                inner = inner.replace("to_out.0", "o")
                parts = inner.split(".")
                inner = ".".join(block_inverse.get(p, p) if i < len(parts) - 1 or p == "scale_shift_table" else p
                                 for i, p in enumerate(parts))
            official = f"control_blocks_{match.group(1)}.{match.group(2)}.{inner}"
        else:
            official = (rest.replace("dense_in", "control_initial_combine_linear_dense")
                        .replace("sparse_in", "control_initial_combine_linear_sparse")
                        .replace("text_proj", "control_text_linear").replace("time_proj", "control_t_mod")
                        .replace("fusion", "control_combine_linears"))
        if control_name_to_ours(official) != name:
            raise AssertionError(f"control name round trip failed for {name} -> {official}")
        out[name] = official
    return out
