"""Matrix-Game-2.0 against goldens made by the published code (tests/parity/matrix_game/README.md).

A whole tiny segment (3 streaming blocks of 3 latent frames, 3 denoising steps + 1 cache refresh
each, the third block rolling the 6-frame KV caches) of upstream's ``CausalInferencePipeline``
versus our loader + ``MatrixGameGenerator`` + sampler, in fp32 on the CPU.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from baselines.matrix_game.checkpoint import load_generator
from baselines.matrix_game.config import ActionConfig, MatrixGameConfig
from baselines.matrix_game.model import GeneratorCaches
from baselines.matrix_game.sampler import BlockConditions, FlowTable, denoise_block

HERE = Path(__file__).parent / "parity" / "matrix_game"
GOLDENS = HERE / "goldens"
TOL = 1e-5


def _make_goldens_module():
    spec = importlib.util.spec_from_file_location("mg2_make_goldens", HERE / "make_goldens.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parity_config(meta: dict) -> MatrixGameConfig:
    m, a = meta["tiny_model"], meta["tiny_model"]["action_config"]
    assert a["rope_dim_list"] == a["mouse_qk_dim_list"]
    action = ActionConfig(blocks=tuple(a["blocks"]), keyboard_dim_in=a["keyboard_dim_in"],
                          mouse_dim_in=a["mouse_dim_in"], hidden_size=a["hidden_size"],
                          keyboard_hidden_dim=a["keyboard_hidden_dim"], mouse_hidden_dim=a["mouse_hidden_dim"],
                          heads_num=a["heads_num"], windows_size=a["windows_size"],
                          rope_dim_list=tuple(a["rope_dim_list"]), rope_theta=float(a["rope_theta"]))
    return MatrixGameConfig(dim=m["dim"], ffn_dim=m["ffn_dim"], num_heads=m["num_heads"], num_layers=m["num_layers"],
                            image_dim=meta["image_dim"], local_attn_size=m["local_attn_size"], action=action)


def close(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    assert ours.shape == theirs.shape
    return float((ours.double() - theirs.double()).abs().max())


@pytest.fixture(scope="module")
def run():
    meta = json.loads((GOLDENS / "goldens.json").read_text())
    gold = load_file(str(GOLDENS / "goldens.safetensors"))
    maker = _make_goldens_module()
    inputs = maker.make_inputs(meta["input_seed"])
    cfg = parity_config(meta)
    model = load_generator(GOLDENS / "tiny_official.safetensors", cfg)  # the real loading path, header checked
    flows: list[torch.Tensor] = []
    model.register_forward_hook(lambda module, args, out: flows.append(out.detach().clone()))
    g = torch.Generator().manual_seed(meta["renoise_seed"])
    draws: list[torch.Tensor] = []

    def draw(shape):  # upstream draws (b f) c h w from the global generator
        d = torch.randn((shape[0] * shape[2], shape[1], shape[3], shape[4]), generator=g)
        draws.append(d)
        return d.permute(1, 0, 2, 3)[None]

    table = FlowTable.make(cfg.timestep_shift)
    timesteps = table.denoising_timesteps(cfg.denoising_steps)
    tokens = (inputs["noise"].shape[3] // 2) * (inputs["noise"].shape[4] // 2)
    caches = GeneratorCaches.empty(cfg, tokens)
    conditions = BlockConditions(inputs["cond_concat"], inputs["visual_context"], inputs["keyboard"], inputs["mouse"])
    with torch.no_grad():
        latents = torch.cat([denoise_block(model, table, timesteps, inputs["noise"][:, :, s:s + 3], conditions, caches,
                                           s, draw) for s in range(0, inputs["noise"].shape[2], 3)], dim=2)
    return {"meta": meta, "gold": gold, "inputs": inputs, "maker": maker, "flows": flows, "draws": draws,
            "latents": latents, "timesteps": timesteps}


def test_inputs_and_schedule_are_upstreams(run):
    gold = run["gold"]
    for name, value in run["inputs"].items():
        assert float(value.double().sum()) == pytest.approx(float(gold[f"input_{name}_sum"]), rel=1e-12), name
    assert torch.equal(run["timesteps"], gold["timesteps"])
    assert len(run["draws"]) == run["meta"]["renoise_draws"]
    renoise = run["maker"].summary(torch.cat(run["draws"]).permute(1, 0, 2, 3)[None], "renoise")
    assert torch.equal(renoise["renoise_sample"], gold["renoise_sample"])


def test_generator_forward_with_caches_matches_upstream(run):
    flows, gold, maker = run["flows"], run["gold"], run["maker"]
    assert len(flows) == run["meta"]["forwards"] == 12
    for index, name in ((0, "first_flow"), (8, "last_block_first_flow")):  # block 0 step 0; block 2 step 0 (rolled)
        ours = maker.summary(flows[index], name)
        assert close(ours[f"{name}_sample"], gold[f"{name}_sample"]) < TOL, name
        assert close(ours[f"{name}_means"], gold[f"{name}_means"]) < TOL, name


def test_whole_segment_of_denoising_matches_upstream(run):
    ours = run["maker"].summary(run["latents"], "latents")
    gold = run["gold"]
    assert close(ours["latents_sample"], gold["latents_sample"]) < TOL
    assert close(ours["latents_means"], gold["latents_means"]) < TOL
    assert float(gold["latents_sample"].abs().max()) > 0.1  # not a degenerate golden
