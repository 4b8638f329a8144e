"""GameCraft transformer: official names/shapes, header checks, and parity with the published model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from baselines.gamecraft.checkpoint import (
    CheckpointError,
    check_official,
    load_official,
    official_shapes,
    official_to_ours,
    read_official_shapes,
    save_official,
)
from baselines.gamecraft.model import REAL_CONFIG, TINY_CONFIG, DeepCache, build_on_meta, deepcache_reuse_steps

GOLDENS = Path(__file__).parent / "parity" / "gamecraft" / "goldens"


def test_written_down_names_equal_the_published_model_at_real_size():
    published = json.loads((GOLDENS / "official_names_real.json").read_text())
    assert official_shapes(REAL_CONFIG) == {k: tuple(v) for k, v in published.items()}
    assert len(published) == 865


def test_every_official_tensor_lands_on_a_parameter_of_its_shape_at_real_size():
    model = build_on_meta(REAL_CONFIG)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    filled: dict[str, int] = {}
    for name, shape in official_shapes(REAL_CONFIG).items():
        pieces = official_to_ours(name, REAL_CONFIG)
        rows = 0
        for piece in pieces:
            assert piece.ours in ours, f"{name} -> {piece.ours} is not a parameter"
            n = (piece.stop - piece.start) if piece.start is not None else shape[0]
            assert ours[piece.ours] == (n, *shape[1:]), f"{name} -> {piece.ours}: {ours[piece.ours]}"
            filled[piece.ours] = filled.get(piece.ours, 0) + 1
            rows += n
        assert rows == shape[0], name
    assert set(filled) == set(ours), sorted(set(ours) - set(filled))[:5]
    assert all(count == 1 for count in filled.values())
    assert sum(p.numel() for p in model.parameters()) == sum(
        torch.Size(s).numel() for s in official_shapes(REAL_CONFIG).values())


def test_header_check_names_missing_unexpected_and_misshaped(tmp_path):
    torch.manual_seed(0)
    from baselines.gamecraft.model import GameCraftTransformer

    path = save_official(GameCraftTransformer(TINY_CONFIG), tmp_path / "ok.pt")
    check_official(read_official_shapes(path), TINY_CONFIG, "tiny")
    state = torch.load(path, weights_only=True)["module"]
    state.pop("camera_net.scale")
    state["extra.weight"] = torch.zeros(2)
    state["img_in.proj.bias"] = torch.zeros(5)
    torch.save({"module": state}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as err:
        load_official(tmp_path / "bad.pt", TINY_CONFIG)
    text = str(err.value)
    assert "1 missing: camera_net.scale" in text and "1 unexpected: extra.weight" in text
    assert "img_in.proj.bias: [5] vs [32]" in text and "nothing was loaded" in text
    with pytest.raises(CheckpointError, match="holds no state dict"):
        torch.save([1, 2], tmp_path / "list.pt")
        read_official_shapes(tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_official_shapes(tmp_path / "absent.pt")


def test_round_trip_through_the_official_format(tmp_path):
    torch.manual_seed(1)
    from baselines.gamecraft.model import GameCraftTransformer

    model = GameCraftTransformer(TINY_CONFIG)
    loaded = load_official(save_official(model, tmp_path / "m.pt"), TINY_CONFIG)
    theirs = loaded.state_dict()
    assert set(theirs) == set(model.state_dict())
    for name, a in model.state_dict().items():
        assert torch.equal(a, theirs[name]), name


def test_deepcache_schedule_is_upstreams():
    reused = deepcache_reuse_steps(50)
    assert sorted(reused) == list(range(11, 40, 2))
    assert deepcache_reuse_steps(8) == frozenset()


@pytest.fixture(scope="module")
def published():
    from safetensors.torch import load_file

    return load_official(GOLDENS / "tiny_official.pt", TINY_CONFIG), load_file(str(GOLDENS / "forward.safetensors"))


@pytest.mark.parametrize("frames", [10, 18])
def test_forward_equals_the_published_model(published, frames):
    model, io = published
    cache = DeepCache()
    with torch.no_grad():
        out = model(io[f"x{frames}"], io[f"t{frames}"], io["text"], io["text_mask"], io["pooled"], io["cam"],
                    cache=cache)
        reused = model(io[f"x{frames}"], io[f"t{frames}"] * 0.5, io["text"], io["text_mask"], io["pooled"],
                       io["cam"], cache=cache, reuse_cache=True)
    assert (out - io[f"out{frames}"]).abs().max().item() <= 1e-5
    assert (reused - io[f"cached_out{frames}"]).abs().max().item() <= 1e-5
    assert cache.full_steps == 1 and cache.reused_steps == 1


def test_one_denoising_step_equals_the_published_one(published):
    from baselines.gamecraft.sampler import FlowSchedule, denoise_step

    model, io = published
    schedule = FlowSchedule.make(50, 5.0)
    assert torch.allclose(schedule.sigmas, io["sigmas"], atol=0, rtol=0)
    assert schedule.timesteps[0].item() == io["step_t0"].item()
    with torch.no_grad():
        out = denoise_step(model, io["step_latents"], io["step_image_latent"], None, schedule, 0, cfg_scale=2.0,
                           text=io["text"], text_mask=io["text_mask"], pooled=io["pooled"], plucker=io["cam"])
    assert (out - io["step_out"]).abs().max().item() <= 1e-5
