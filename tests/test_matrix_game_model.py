"""Matrix-Game-2.0 generator: official names/shapes at real size (meta device), header checks, streaming."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from baselines.matrix_game.checkpoint import CheckpointError, check_header, load_generator
from baselines.matrix_game.config import MatrixGameConfig
from baselines.matrix_game.model import GeneratorCaches, MatrixGameGenerator
from baselines.matrix_game.official_names import official_shapes


def test_real_size_model_covers_every_official_tensor() -> None:
    cfg = MatrixGameConfig()
    with torch.device("meta"):
        model = MatrixGameGenerator(cfg)
    ours = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    official = official_shapes(cfg)
    assert ours == official
    assert sum(1 for n in official if ".action_model." in n) == 15 * 19
    # the universal model is a 1.3B-class Wan plus action modules
    total = sum(int(torch.Size(s).numel()) for s in official.values())
    assert 1.5e9 < total < 2.5e9


def _save_tiny(path, cfg: MatrixGameConfig, prefix: str = "model.", drop: str | None = None,
               reshape: str | None = None) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = MatrixGameGenerator(cfg)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if drop:
        state.pop(drop)
    if reshape:
        state[reshape] = torch.zeros(3)
    save_file({prefix + k: v for k, v in state.items()}, str(path))
    return state


def test_header_check_names_every_problem(tmp_path) -> None:
    cfg = MatrixGameConfig.tiny()
    good = tmp_path / "g.safetensors"
    _save_tiny(good, cfg)
    assert len(check_header(good, cfg)) == len(official_shapes(cfg))
    bad = tmp_path / "b.safetensors"
    _save_tiny(bad, cfg, drop="blocks.0.action_model.t_qkv.weight", reshape="head.modulation")
    with pytest.raises(CheckpointError, match=r"1 missing \[blocks.0.action_model.t_qkv.weight\].*1 mis-shaped"):
        check_header(bad, cfg)
    with pytest.raises(CheckpointError, match="missing"):
        check_header(good, MatrixGameConfig.tiny().__class__(**{**cfg.as_dict(), "num_layers": 3,
                                                              "action": cfg.action}))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable"):
        check_header(junk, cfg)


def test_loaded_weights_equal_saved_and_streaming_runs(tmp_path) -> None:
    cfg = MatrixGameConfig.tiny()
    path = tmp_path / "g.safetensors"
    state = _save_tiny(path, cfg, prefix="")
    model = load_generator(path, cfg)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    h, w = 4, 6
    caches = GeneratorCaches.empty(cfg, (h // 2) * (w // 2))
    torch.manual_seed(1)
    ctx = torch.randn(1, 5, cfg.image_dim)
    keyboard, mouse = torch.rand(1, 1 + 4 * 8, 4), torch.randn(1, 1 + 4 * 8, 2) * 0.1
    for block in range(3):
        start = 3 * block
        rows = 1 + 4 * (start + 2)
        out = model(torch.randn(1, 16, 3, h, w), torch.full((1, 3), 700.0), torch.randn(1, 20, 3, h, w), ctx,
                    keyboard[:, :rows], mouse[:, :rows], caches, start)
        assert out.shape == (1, 16, 3, h, w) and torch.isfinite(out).all()
    # the caches keep the last local_attn_size latent frames
    assert caches.self_attn[0].first_frame == 3 and caches.self_attn[0].k.shape[1] == 6 * (h // 2) * (w // 2)
    with pytest.raises(ValueError, match="action rows"):
        model(torch.randn(1, 16, 3, h, w), torch.full((1, 3), 700.0), torch.randn(1, 20, 3, h, w), ctx,
              keyboard[:, :5], mouse[:, :5], caches, 9)
