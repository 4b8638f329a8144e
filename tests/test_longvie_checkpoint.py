"""Header checks of LongVie 2 checkpoints: missing, unexpected, mis-shaped, prefixed, corrupt files; loading."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("safetensors", reason="the longvie extra is not installed")
import torch
from safetensors.torch import save_file

from longvie import checkpoint as ck
from longvie.config import TINY_CONFIG
from longvie.model import LongVie2Transformer


@pytest.fixture(scope="module")
def model():
    from longvie_tiny import tiny_transformer

    return tiny_transformer()


def _control_state(model, prefix: str = "") -> dict[str, torch.Tensor]:
    names = ck.official_control_names(model)
    return {prefix + official: model.state_dict()[ours].clone() for ours, official in names.items()}


def _meta_model() -> LongVie2Transformer:
    with torch.device("meta"):
        return LongVie2Transformer(TINY_CONFIG)


def test_read_header_reads_names_and_shapes_only(tmp_path: Path, model):
    path = tmp_path / "control.safetensors"
    save_file(_control_state(model), str(path))
    header = ck.read_header(path)
    assert header["control_t_mod.weight"] == ck.TensorInfo((TINY_CONFIG.control_dim, TINY_CONFIG.dim), "F32")
    assert len(header) == len(ck.official_control_names(model))


@pytest.mark.parametrize("prefix", ["", ck.CONTROL_PREFIX])
def test_control_round_trip_with_and_without_prefix(tmp_path: Path, model, prefix: str):
    path = tmp_path / "control.safetensors"
    save_file(_control_state(model, prefix), str(path))
    target = _meta_model()
    report = ck.load_file_checked(target, path, ck.check_control, "control")
    assert len(report.mapping) == len(ck.official_control_names(model))
    for name, tensor in model.state_dict().items():
        if name.startswith("controller."):
            assert torch.equal(target.state_dict()[name], tensor), name


def test_missing_tensor_is_named(tmp_path: Path, model):
    state = _control_state(model)
    del state["control_combine_linears.1.weight"]
    path = tmp_path / "c.safetensors"
    save_file(state, str(path))
    with pytest.raises(ck.CheckpointError, match=r"1 missing: controller\.fusion\.1\.weight"):
        ck.load_file_checked(_meta_model(), path, ck.check_control, "control")


def test_unexpected_tensor_is_named(tmp_path: Path, model):
    state = _control_state(model)
    state["control_blocks_dense.7.ffn.0.weight"] = torch.zeros(2, 2)  # a block the tiny model has not
    state["something_else"] = torch.zeros(1)
    path = tmp_path / "c.safetensors"
    save_file(state, str(path))
    expected = r"2 unexpected: control_blocks_dense\.7\.ffn\.0\.weight, something_else"
    with pytest.raises(ck.CheckpointError, match=expected):
        ck.load_file_checked(_meta_model(), path, ck.check_control, "control")


def test_misshaped_tensor_is_named_and_nothing_loads(tmp_path: Path, model):
    state = _control_state(model)
    state["control_text_linear.weight"] = torch.zeros(3, 5)
    path = tmp_path / "c.safetensors"
    save_file(state, str(path))
    target = LongVie2Transformer(TINY_CONFIG)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ck.CheckpointError, match=r"1 mis-shaped: control_text_linear\.weight: \[3, 5\] vs"):
        ck.load_file_checked(target, path, ck.check_control, "control")
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())


def test_partial_overlay_is_refused(tmp_path: Path, model):
    from longvie_tiny import overlay_state

    state = overlay_state(model)
    for key in [k for k in state if k.startswith("blocks.2.")]:
        del state[key]
    path = tmp_path / "dit.safetensors"
    save_file(state, str(path))
    with pytest.raises(ck.CheckpointError, match=r"10 missing: base\.blocks\.2\.attn1"):
        ck.load_file_checked(_meta_model(), path, ck.check_overlay, "overlay")


def test_not_a_safetensors_file(tmp_path: Path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\xff" * 4)
    with pytest.raises(ck.CheckpointError, match="shorter than 8 bytes"):
        ck.read_header(path)
    path.write_bytes((10**12).to_bytes(8, "little") + b"{}")
    with pytest.raises(ck.CheckpointError, match="impossible"):
        ck.read_header(path)
    with pytest.raises(ck.CheckpointError, match="cannot be read"):
        ck.read_header(tmp_path / "absent.safetensors")


def test_weights_folder_loads_base_overlay_and_control(tmp_path: Path):
    from longvie_tiny import overlay_state, tiny_transformer, write_tiny_folder

    from longvie.loading import WeightsFolder, load_transformer

    root = write_tiny_folder(tmp_path / "w")
    loaded = load_transformer(WeightsFolder.find(root))
    reference = tiny_transformer()
    overlay = overlay_state(reference)
    expected = reference.state_dict()
    expected.update({ck.base_original_to_ours(k): v for k, v in overlay.items()})
    got = loaded.state_dict()
    assert set(got) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(got[name], tensor), name
    assert loaded.config == TINY_CONFIG  # read back from transformer/config.json and the control header
