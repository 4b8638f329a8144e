"""DiffusionAsShader checkpoints: the real-size model covers the official tensor list; header checks fail loudly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch
from safetensors.torch import load_file, save_file

from baselines.das import checkpoint as ck
from baselines.das.loading import load_transformer
from baselines.das.model import REAL_CONFIG, DiffusionAsShaderTransformer

PARITY = Path(__file__).parent / "parity" / "das"
OFFICIAL = json.loads((PARITY / "official_transformer_tensors.json").read_text())


def test_real_size_model_covers_every_official_tensor():
    """Meta device: every official tensor lands on a parameter/buffer of the same shape, and nothing else exists."""
    with torch.device("meta"):
        model = DiffusionAsShaderTransformer(**REAL_CONFIG)
    header = {name: ck.TensorInfo(tuple(shape), "BF16") for name, shape in OFFICIAL["tensors"].items()}
    report = ck.check_transformer(model, header, "official tensor list")
    assert report.ok, (report.missing[:5], report.unexpected[:5], report.misshaped[:5])
    assert len(report.mapping) == OFFICIAL["num_tensors"] == len(model.state_dict())
    assert OFFICIAL["config"]["num_tracking_blocks"] == REAL_CONFIG["num_tracking_blocks"] == 18


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    shutil.copytree(PARITY / "weights", tmp_path / "w")
    return tmp_path / "w"


def _rewrite(folder: Path, edit) -> None:
    path = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def test_official_layout_loads_and_names_every_tensor(folder: Path):
    model = load_transformer(folder)
    state = load_file(str(folder / "transformer" / "diffusion_pytorch_model.safetensors"))
    assert set(state) == set(model.state_dict())
    assert torch.equal(model.state_dict()["combine_linears.1.weight"], state["combine_linears.1.weight"])
    assert model.num_tracking_blocks == 2


def test_missing_tensor_is_named(folder: Path):
    _rewrite(folder, lambda s: s.pop("transformer_blocks_copy.1.attn1.to_q.weight"))
    with pytest.raises(ck.CheckpointError, match=r"1 missing: transformer_blocks_copy\.1\.attn1\.to_q\.weight"):
        load_transformer(folder)


def test_unexpected_tensor_is_named(folder: Path):
    _rewrite(folder, lambda s: s.__setitem__("lora.up.weight", torch.zeros(2, 2)))
    with pytest.raises(ck.CheckpointError, match=r"1 unexpected: lora\.up\.weight"):
        load_transformer(folder)


def test_misshaped_tensor_is_named(folder: Path):
    _rewrite(folder, lambda s: s.__setitem__("initial_combine_linear.weight", torch.zeros(32, 16)))
    expected = r"1 mis-shaped: initial_combine_linear\.weight: \[32, 16\] vs \[32, 32\]"
    with pytest.raises(ck.CheckpointError, match=expected):
        load_transformer(folder)


def test_config_disagreeing_with_header_is_refused(folder: Path):
    path = folder / "transformer" / "config.json"
    config = json.loads(path.read_text())
    config["num_tracking_blocks"] = 3
    path.write_text(json.dumps(config))
    with pytest.raises(ck.CheckpointError, match="num_tracking_blocks=3 but the checkpoint holds 2"):
        load_transformer(folder)


def test_plain_cogvideox_checkpoint_is_refused_not_silently_zero_branched(folder: Path):
    """Upstream falls back to a fresh branch when loading fails; here a base-only file is an error."""
    _rewrite(folder, lambda s: [s.pop(k) for k in list(s) if "copy" in k or "combine" in k])
    with pytest.raises(ck.CheckpointError, match="plain CogVideoX checkpoint"):
        load_transformer(folder)
    path = folder / "transformer" / "config.json"
    config = json.loads(path.read_text())
    del config["num_tracking_blocks"]
    path.write_text(json.dumps(config))
    with pytest.raises(ck.CheckpointError, match="plain CogVideoX checkpoint"):
        load_transformer(folder)


def test_corrupt_file_is_named(folder: Path):
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{no")
    with pytest.raises(ck.CheckpointError, match="not a safetensors file"):
        load_transformer(folder)


def test_pipeline_prefix_is_accepted():
    assert ck.official_to_ours("transformer.patch_embed.proj.weight") == "patch_embed.proj.weight"
