"""The published Go-with-the-Flow LoRA: the expected tensor list, header check, meta-device fit at real size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers", reason="the longvie extra is not installed")

from gwtf_tiny import write_tiny_lora

from baselines.cogvideox import configs
from baselines.gwtf.lora import LORA_RANK, LoraCheckError, check_lora_header, expected_lora_tensors, read_shapes

DATA = Path(__file__).parent / "data" / "gwtf" / "lora_keys.json"


def test_expected_list_is_the_written_down_one() -> None:
    written = json.loads(DATA.read_text())["tensors"]
    derived = expected_lora_tensors()
    assert len(derived) == 336 == len(written)
    assert {k: list(v) for k, v in derived.items()} == written


def test_every_lora_tensor_lands_on_a_real_size_cogvideox_module_of_its_shape() -> None:
    """Real CogVideoX-5B-I2V on the meta device, LoRA injected by PEFT as diffusers does: names and shapes fit."""
    pytest.importorskip("peft", reason="the cogvideox extra (peft) is not installed")
    from peft import LoraConfig, inject_adapter_in_model

    with torch.device("meta"):
        transformer = configs.build_transformer(configs.REAL_TRANSFORMER)
        modules = dict(transformer.named_modules())
        for name, shape in expected_lora_tensors().items():
            module_name = name.removeprefix("transformer.").rsplit(".lora_", 1)[0]
            linear = modules[module_name]
            assert isinstance(linear, torch.nn.Linear)
            if ".lora_A." in name:
                assert shape == (LORA_RANK, linear.in_features)
            else:
                assert shape == (linear.out_features, LORA_RANK)
        config = LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
        inject_adapter_in_model(config, transformer, adapter_name="gwtf")
    state = {k: tuple(v.shape) for k, v in transformer.state_dict().items() if ".lora_" in k}
    ours = {f"transformer.{k.replace('.gwtf.', '.')}": v for k, v in state.items()}
    assert ours == expected_lora_tensors()


def test_header_check_names_what_is_wrong(tmp_path: Path) -> None:
    expected = expected_lora_tensors(2, 32, 4)
    good = write_tiny_lora(tmp_path / "good.safetensors")
    check_lora_header(read_shapes(good), expected, "tiny")
    dropped = "transformer.transformer_blocks.1.attn1.to_v.lora_B.weight"
    bad = write_tiny_lora(tmp_path / "bad.safetensors", drop=dropped)
    with pytest.raises(LoraCheckError, match=r"1 missing: transformer\.transformer_blocks\.1\.attn1\.to_v\.lora_B"):
        check_lora_header(read_shapes(bad), expected, "tiny")
    wrong_rank = write_tiny_lora(tmp_path / "rank8.safetensors", rank=8)
    with pytest.raises(LoraCheckError, match=r"16 mis-shaped.*\[8, 32\] vs \[4, 32\]"):
        check_lora_header(read_shapes(wrong_rank), expected, "tiny")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(LoraCheckError, match="cannot be read"):
        read_shapes(tmp_path / "junk.safetensors")
