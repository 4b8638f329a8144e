"""The published Go-with-the-Flow LoRA: its expected tensors, a header check, and loading through diffusers.

Upstream (``cut_and_drag_inference.py``) loads ``<name>.safetensors`` from
``Eyeline-Research/Go-with-the-Flow`` with ``CogVideoXImageToVideoPipeline.load_lora_weights``,
diffusers' LoRA/PEFT path, which only *warns* about tensors that fit nothing. Here the file's
safetensors header (names, shapes, no data) is compared first with the tensors a LoRA of rank
``rank`` on CogVideoX-5B must have, and any missing, unexpected or mis-shaped tensor raises
``CheckpointError`` naming them before a byte is loaded.

Expected tensors (:func:`expected_lora_tensors`, written out in ``tests/data/gwtf/lora_keys.json``):
the LoRA was trained with diffusers' CogVideoX LoRA fine-tuning recipe, which targets the
attention projections ``to_q``, ``to_k``, ``to_v``, ``to_out.0`` of every block's ``attn1``
(CogVideoX has one joint text-video attention per block) and saves them as
``transformer.transformer_blocks.{i}.attn1.{module}.lora_A.weight`` (rank x 3072) and
``...lora_B.weight`` (3072 x rank): 42 blocks x 4 modules x 2 = 336 tensors.

Rank: :data:`LORA_RANK` (2048) is the rank the Go-with-the-Flow paper reports for its CogVideoX
LoRAs; it could not be confirmed against the file from this workplace (no Hub access). If the
published file has another rank, the check fails naming the shapes it found; pass
``lora_rank=<that rank>`` to the model once you have verified the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from longvgenbench.errors import LongVGenBenchError

LORA_RANK = 2048
LORA_MODULES = ("to_q", "to_k", "to_v", "to_out.0")
PREFIX = "transformer."
#: the upstream inference script's default LoRA (``model_name`` in ``cut_and_drag_inference.main``)
DEFAULT_LORA = "I2V5B_final_i38800_nearest_lora_weights"
#: every I2V LoRA the upstream inference script lists, with the temporal noise downsampling it was trained with
I2V_LORAS = {"I2V5B_final_i38800_nearest_lora_weights": "nearest",
             "I2V5B_final_i30000_lora_weights": "nearest",
             "I2V5B_resum_blendnorm_0degrad_i13600_DATASET_lora_weights": "blend_norm"}


class LoraCheckError(LongVGenBenchError):
    """A LoRA file does not fit the transformer: names what is missing, unexpected or mis-shaped."""


def expected_lora_tensors(num_layers: int = 42, inner_dim: int = 3072, rank: int = LORA_RANK
                          ) -> dict[str, tuple[int, int]]:
    """Official LoRA tensor names -> shapes for a CogVideoX transformer of ``num_layers`` x ``inner_dim``."""
    out: dict[str, tuple[int, int]] = {}
    for block in range(num_layers):
        for module in LORA_MODULES:
            base = f"{PREFIX}transformer_blocks.{block}.attn1.{module}"
            out[f"{base}.lora_A.weight"] = (rank, inner_dim)
            out[f"{base}.lora_B.weight"] = (inner_dim, rank)
    return out


def expected_for(transformer: Any, rank: int) -> dict[str, tuple[int, int]]:
    config = transformer.config
    return expected_lora_tensors(int(config.num_layers),
                                 int(config.num_attention_heads) * int(config.attention_head_dim), rank)


def check_lora_header(header: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]],
                      what: str) -> None:
    """Raise ``LoraCheckError`` unless ``header`` (name -> shape) has exactly ``expected``'s tensors."""
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    misshaped = [f"{n}: {list(header[n])} vs {list(expected[n])}" for n in sorted(set(header) & set(expected))
                 if tuple(header[n]) != tuple(expected[n])]
    if not (missing or unexpected or misshaped):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if items:
            more = f", ... ({len(items) - 6} more)" if len(items) > 6 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:6])}{more}")
    raise LoraCheckError(f"{what} does not match a rank-{_rank_of(expected)} Go-with-the-Flow LoRA on this "
                         f"CogVideoX transformer ({'; '.join(parts)}); nothing was loaded")


def _rank_of(expected: Mapping[str, tuple[int, ...]]) -> int | str:
    for name, shape in expected.items():
        if name.endswith("lora_A.weight"):
            return shape[0]
    return "?"


def read_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names -> shapes from a safetensors header (no tensor data is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}  # noqa: SIM118
    except (OSError, SafetensorError) as exc:
        raise LoraCheckError(f"{path} cannot be read as a safetensors file: {exc}") from exc


def load_checked_lora(pipe: Any, path: Path, rank: int, adapter_name: str = "go-with-the-flow") -> None:
    """Header check of ``path`` against ``pipe.transformer``, then diffusers' ``load_lora_weights``."""
    path = Path(path)
    check_lora_header(read_shapes(path), expected_for(pipe.transformer, rank), f"LoRA file {path}")
    pipe.load_lora_weights(str(path), adapter_name=adapter_name)


__all__ = ["DEFAULT_LORA", "I2V_LORAS", "LORA_MODULES", "LORA_RANK", "LoraCheckError", "check_lora_header",
           "expected_for", "expected_lora_tensors", "load_checked_lora", "read_shapes"]
