"""Motion-I2V: official layout, parity with the published UNets, header checks, grid mapping, runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from baselines.motion_i2v.adapter import MotionI2VModel, chain_to_grid, native_segments_per_clip
from baselines.motion_i2v.checkpoint import check_header, expected_for, load_checkpoint, official_tensors
from baselines.motion_i2v.config import SCHEDULER_STAGE1, SCHEDULER_STAGE2, TINY, stage1_config, stage2_config
from baselines.motion_i2v.pipeline import Components, MotionI2VPipeline
from baselines.motion_i2v.softsplat import splat_average
from baselines.motion_i2v.unet3d import MotionI2VUNet
from longvgenbench.errors import MismatchError
from tests.parity.motion_i2v import fixtures as mi2v_fixtures

GOLDENS = Path(__file__).parent / "parity" / "motion_i2v" / "goldens"


@pytest.mark.parametrize(("stage", "cfg"), [("stage1_unet", stage1_config()), ("stage2_unet", stage2_config())])
def test_real_size_model_covers_every_official_tensor(stage, cfg):
    with torch.device("meta"):
        model = MotionI2VUNet(cfg)
    assert expected_for(model) == official_tensors()[stage]


def golden_checkpoint(stage: int, model: MotionI2VUNet, path: Path) -> tuple[Path, str]:
    """Write the goldens' tiny weights in the published naming (names and shapes from the published
    model, values drawn by name as ``make_goldens.py`` drew them) and fingerprint what was drawn."""
    layout = json.loads((GOLDENS / "tiny_tensors.json").read_text())[f"stage{stage}_unet"]
    drawn = {k: mi2v_fixtures.weight_value(stage, k, tuple(shape)) for k, shape in layout["parameters"].items()}
    ours = model.state_dict()  # buffers (positional encodings) as our model computes them
    state = {k: torch.from_numpy(v) for k, v in drawn.items()}
    state.update({k: ours[k].clone() if k in ours else torch.zeros(shape) for k, shape in layout["buffers"].items()})
    save_file(state, str(path))
    inputs = mi2v_fixtures.inputs(stage)
    return path, mi2v_fixtures.fingerprint({**{f"weight/{k}": v for k, v in drawn.items()},
                                            **{f"input/{k}": v for k, v in inputs.items()}})


@pytest.mark.parametrize("stage", [1, 2])
def test_one_denoising_step_matches_published_code(stage, tmp_path):
    from diffusers import DDIMScheduler

    meta = json.loads((GOLDENS / "meta.json").read_text())
    expected = load_file(str(GOLDENS / f"stage{stage}_outputs.safetensors"))
    model = MotionI2VUNet((stage1_config if stage == 1 else stage2_config)(**TINY)).eval()
    path, drawn = golden_checkpoint(stage, model, tmp_path / f"stage{stage}.safetensors")
    assert drawn == meta["drawn_fingerprints"][f"stage{stage}"], "numpy drew other weights/inputs than upstream's run"
    load_checkpoint(model, path)
    io = {k: torch.from_numpy(v) for k, v in mi2v_fixtures.inputs(stage).items()}
    guidance = meta["guidance"]
    sched = DDIMScheduler(**(SCHEDULER_STAGE1 if stage == 1 else SCHEDULER_STAGE2))
    sched.set_timesteps(25)
    t = sched.timesteps[mi2v_fixtures.STEP_INDEX]
    assert int(t) == int(expected["timestep"][0])
    with torch.no_grad():
        if stage == 1:
            x = torch.cat([io["image_latent"], io["flow_latent"]], 1)
            pred = model(torch.cat([x] * 2), t, io["text"], stride=io["stride"])
            sample = io["flow_latent"]
        else:
            sample = io["latents"].clone()
            sample[:, :, 0:1] = io["first_latent"]
            pred = model(torch.cat([sample] * 2), t, io["text"], flow=io["flow"][None].repeat(2, 1, 1, 1, 1))
        uncond, cond = pred.chunk(2)
        guided = uncond + guidance * (cond - uncond)
        step = sched.step(guided, t, sample).prev_sample
    assert (pred - expected["noise_pred"]).abs().max() < 1e-5
    assert (guided - expected["guided"]).abs().max() < 1e-4 * guidance
    assert (step - expected["prev_sample"]).abs().max() < 1e-5 * guidance


def test_header_check_names_missing_unexpected_and_misshaped(tmp_path):
    model = MotionI2VUNet(stage2_config(**TINY))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    name = "conv_in.weight"
    state["conv_in.weight"] = torch.zeros(1, 2, 3, 3)
    state.pop("conv_out.bias")
    state["controlnet.extra"] = torch.zeros(1)
    bad = tmp_path / "bad.safetensors"
    save_file(state, str(bad))
    with pytest.raises(MismatchError, match=r"1 missing.*conv_out.bias.*1 unexpected.*controlnet.extra.*mis-shaped.*"
                                            + name):
        check_header(bad, expected_for(model))
    with pytest.raises(MismatchError, match="mis-shaped"):
        check_header(bad, expected_for(model), partial=True)


def test_splat_moves_features_by_the_flow():
    src = torch.zeros(1, 1, 6, 6)
    src[0, 0, 1, 1] = 5.0
    flow = torch.zeros(1, 2, 6, 6)
    flow[0, 0], flow[0, 1] = 3.0, 2.0
    out = splat_average(src, flow)
    assert out[0, 0, 3, 4] == pytest.approx(5.0, abs=1e-5)
    assert out[0, 0].abs().sum() == pytest.approx(5.0, abs=1e-4)


def test_grid_mapping_is_exact_on_known_frames():
    assert native_segments_per_clip(81, 16.0) == 3
    chain = np.arange(46, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    grid = chain_to_grid(chain, 81, 16.0)
    assert grid.shape[0] == 81
    assert [int(f[0, 0, 0]) for f in grid[:6]] == [0, 0, 1, 1, 2, 2]
    assert int(grid[80, 0, 0, 0]) == 40
    with pytest.raises(ValueError, match="cannot cover"):
        chain_to_grid(chain[:20], 81, 16.0)


def tiny_components(tmp_path: Path) -> Components:
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = [chr(b) for b in printable] + [chr(256 + i) for i in range(256 - len(printable))]  # GPT-2 byte alphabet
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"), model_max_length=16)
    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                                        eos_token_id=1, bos_token_id=0, pad_token_id=1)).eval()

    def vae(channels: int) -> AutoencoderKL:
        return AutoencoderKL(in_channels=channels, out_channels=channels, block_out_channels=(32, 32, 32, 32),
                             down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                             layers_per_block=1, latent_channels=4, norm_num_groups=32).eval()

    unet1, unet2 = MotionI2VUNet(stage1_config(**TINY)).eval(), MotionI2VUNet(stage2_config(**TINY)).eval()
    with torch.no_grad():  # the published zero-initialised projections would hide the temporal paths
        for p in list(unet1.parameters()) + list(unet2.parameters()):
            if p.ndim > 1 and p.abs().sum() == 0:
                p.normal_(0, 0.02)
    return Components(tokenizer, text, tokenizer, text, vae(3), vae(3), unet1, unet2, video_vae=vae(3))


def test_three_segments_through_the_runner_and_resume(tmp_path):
    from longvgenbench.rundir import RunDir
    from longvgenbench.runner import generate
    from longvgenbench.video_io import read_frames
    from tests.test_baselines_runner import build_split

    split, _ = build_split(tmp_path)
    segments = split.samples[0].segments
    split3 = split  # two clips in the shared fixture; add a third by extending its segments
    from dataclasses import replace

    from longvgenbench.records import Segment
    third = Segment(index=2, start=segments[1].start + split.grid.stride, num_frames=split.grid.clip_frames,
                    caption="clip 2", controls=segments[1].controls)
    sample = replace(split.samples[0], segments=(*segments, third),
                     num_frames=split.samples[0].num_frames + split.grid.stride)
    split3 = replace(split, samples=(sample,))
    pipe = MotionI2VPipeline(tiny_components(tmp_path), steps=2)
    calls: list[int] = []

    def counted(frame, prompt, seed):
        calls.append(seed)
        return pipe(frame, prompt, seed)

    model = MotionI2VModel(height=64, width=64, pipeline=counted)
    summary = generate(model, split3, tmp_path / "full", seed=1)
    assert summary.segments_generated == 3
    assert len(calls) == 3 * native_segments_per_clip(split.grid.clip_frames, split.grid.fps)

    class Killed(MotionI2VModel):
        def generate_segment(self, request, state):
            if request.segment.index == 2:
                raise KeyboardInterrupt("simulated kill")
            return super().generate_segment(request, state)

    with pytest.raises(KeyboardInterrupt):
        generate(Killed(height=64, width=64, pipeline=pipe), split3, tmp_path / "resumed", seed=1)
    generate(MotionI2VModel(height=64, width=64, pipeline=pipe), split3, tmp_path / "resumed", seed=1)
    full, resumed = RunDir(tmp_path / "full"), RunDir(tmp_path / "resumed")
    for index in range(3):
        a = read_frames(full.segment_video("pan", index))
        b = read_frames(resumed.segment_video("pan", index))
        assert a.shape == (split.grid.clip_frames, split.grid.height, split.grid.width, 3)
        np.testing.assert_array_equal(a, b)
