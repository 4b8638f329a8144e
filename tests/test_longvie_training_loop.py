"""LongVie 2 training end to end on CPU: tiny model, a synthetic split, accelerate, official-format checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from longvgenbench.registry import SPLITS, load
from longvie.checkpoint import check_control, load_file_checked, read_header
from longvie.training.data import TrainingClips
from longvie.training.frame_degradation import FIRST_FRAME_DEGRADATION, HISTORY_DEGRADATION
from longvie.training.history import HistorySampler
from longvie.training.schedule import TrainingSchedule
from longvie.training.stages import STAGE_I, STAGE_III, stage
from longvie.training.step import prepare_sample, sample_loss
from longvie.training.train import TINY_BASE, TrainOptions, build_model_and_encoders, train

SIZE = {"height": 32, "width": 32, "num_frames": 5}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: two threads on two shared cores spend most of their time waiting on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train_split") / "mini"
    load(SPLITS, "synthetic-mini").make(out, seed=0, progress=False, num_videos=1, num_clips=2, height=64,
                                         width=112, track_grid=(8, 8))
    return out


def options(split_dir: Path, out: Path, **kw) -> TrainOptions:
    base = dict(split=str(split_dir), out=out, stage="I", size="tiny", steps=30, learning_rate=1e-3,
                gradient_accumulation=1, checkpoint_every=1000, **SIZE)
    base.update(kw)
    return TrainOptions(**base)


def test_training_clips_from_a_split(split_dir: Path):
    clips = TrainingClips(str(split_dir), **SIZE)
    assert len(clips) == 2 and clips.skipped == 0
    second = clips[1]
    assert second.frames.shape == (5, 32, 32, 3) and second.tracks.shape == (5, 32, 32, 3)
    assert second.depth.shape == (5, 32, 32) and second.depth.min() >= 0 and second.depth.max() <= 1
    assert second.start == 80 and second.preceding.shape == (16, 32, 32, 3)
    assert clips[0].preceding.shape[0] == 0  # nothing before the first clip
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        TrainingClips(str(split_dir), height=32, width=32, num_frames=6)


def test_stage_iii_sample_with_history_and_degradations(split_dir: Path):
    opts = options(split_dir, Path("unused"))
    model, encoders = build_model_and_encoders(opts, torch.device("cpu"))
    clip = TrainingClips(str(split_dir), **SIZE)[1]
    forced = replace(STAGE_III, history=HistorySampler(p_history=1.0, choices=(8,)),
                     first_frame=replace(FIRST_FRAME_DEGRADATION, probability=1.0, reencode_share=0.0,
                                         regenerate_steps=(2,), regenerate_weights=(1,)),
                     history_degradation=replace(HISTORY_DEGRADATION, probability=1.0, reencode_share=1.0,
                                                 reencode_rounds=(2,), reencode_weights=(1,)))
    sample = prepare_sample(clip, forced, encoders, np.random.default_rng(0), model=model)
    assert sample.degraded and sample.history_frames == 8
    assert sample.latents.shape == (1, 16, 2, 4, 4) and sample.history.shape == (1, 16, 2, 4, 4)
    assert sample.dense.shape == sample.sparse.shape == (1, 36, 2, 4, 4)
    assert sample.image_condition.shape == (1, 20, 2, 4, 4) and sample.history_latent.shape == (1, 16, 1, 4, 4)
    terms = sample_loss(model, sample, TrainingSchedule(), 500, torch.randn(sample.latents.shape))
    assert terms.cons is not None and terms.deg is not None and torch.isfinite(terms.total)
    clean = prepare_sample(clip, replace(STAGE_I, depth_augmentation=replace(STAGE_I.depth_augmentation,
                                                                             probability=0.0)),
                           encoders, np.random.default_rng(0))
    assert not clean.degraded and clean.history is None
    # no history and no degradation: the conditioning latent is the clip's own first frame
    assert torch.allclose(clean.cond_latent, clean.latents[:, :, :1], atol=1e-5)


def _fixed_loss(model: torch.nn.Module, samples, noises) -> float:
    schedule = TrainingSchedule()
    with torch.no_grad():
        return float(np.mean([sample_loss(model, s, schedule, i, n).main.item()
                              for s, n in zip(samples, noises, strict=True) for i in (200, 500, 800)]))


def test_tiny_training_lowers_the_loss_and_its_checkpoint_loads(split_dir: Path, tmp_path: Path):
    opts = options(split_dir, tmp_path / "run", steps=30)
    result = train(opts, progress=False)
    assert result.steps == 30 and len(result.losses) == 30
    ckpt = result.checkpoint / "control.safetensors"
    assert ckpt.is_file() and (tmp_path / "run" / "latest.json").is_file()

    # Held-out comparison on fixed inputs: the untrained controller vs the checkpoint training wrote.
    before, encoders = build_model_and_encoders(opts, torch.device("cpu"))
    clips = TrainingClips(str(split_dir), **SIZE)
    clean = replace(STAGE_I, feature_degradation=replace(STAGE_I.feature_degradation, probability=0.0),
                    dense_token_jitter=replace(STAGE_I.dense_token_jitter, probability=0.0),
                    depth_augmentation=replace(STAGE_I.depth_augmentation, probability=0.0))
    samples = [prepare_sample(clips[i], clean, encoders, np.random.default_rng(i)) for i in range(len(clips))]
    gen = torch.Generator().manual_seed(123)
    noises = [torch.randn(s.latents.shape, generator=gen) for s in samples]
    loss_before = _fixed_loss(before, samples, noises)

    # The inference side's header check accepts the file (official names and shapes, nothing missing).
    after, _ = build_model_and_encoders(opts, torch.device("cpu"))
    assert check_control(after, read_header(ckpt)).ok
    header = read_header(ckpt)
    assert "control_combine_linears.0.weight" in header and "control_blocks_dense.0.self_attn.q.weight" in header
    load_file_checked(after, ckpt, check_control, "trained control")
    base = load_file(str(tmp_path / "run" / TINY_BASE))
    assert all(torch.equal(base[k], v) for k, v in after.base.state_dict().items())
    loss_after = _fixed_loss(after, samples, noises)
    print(f"held-out loss before {loss_before:.4f}, after {loss_after:.4f}")
    assert loss_after < 0.9 * loss_before, (loss_before, loss_after)


def test_resumed_training_equals_uninterrupted(split_dir: Path, tmp_path: Path):
    full = train(options(split_dir, tmp_path / "full", steps=6, checkpoint_every=3, stage="III"), progress=False)
    train(options(split_dir, tmp_path / "part", steps=3, checkpoint_every=3, stage="III"), progress=False)
    resumed = train(options(split_dir, tmp_path / "part", steps=6, checkpoint_every=3, stage="III"), progress=False)
    assert [r["step"] for r in resumed.losses] == [4, 5, 6]
    a = load_file(str(full.checkpoint / "control.safetensors"))
    b = load_file(str(resumed.checkpoint / "control.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["total"] for r in full.losses[3:]] == [r["total"] for r in resumed.losses]


def test_resume_with_other_settings_is_refused(split_dir: Path, tmp_path: Path):
    from longvgenbench.errors import OutputDirError

    train(options(split_dir, tmp_path / "run", steps=1, checkpoint_every=1), progress=False)
    with pytest.raises(OutputDirError, match="other settings"):
        train(options(split_dir, tmp_path / "run", steps=2, seed=1), progress=False)


def test_stage_names_and_bad_options():
    assert stage("3") is STAGE_III and stage("i") is STAGE_I
    with pytest.raises(ValueError, match="unknown training stage"):
        stage("IV")
    from longvgenbench.errors import OptionError

    with pytest.raises(OptionError, match="--weights"):
        TrainOptions(split="x", out=Path("y"), size="folder")
    with pytest.raises(OptionError, match="size must be one of"):
        TrainOptions(split="x", out=Path("y"), size="huge")


def test_training_from_a_weights_folder_writes_what_inference_loads(split_dir: Path, tmp_path: Path):
    """Train from the inference side's (tiny) weights folder; the checkpoint goes back into it and loads."""
    import shutil

    from longvie_tiny import write_tiny_folder

    from longvie.loading import WeightsFolder, load_transformer

    weights = write_tiny_folder(tmp_path / "weights", with_overlay=False)
    (weights / "longvie2" / "control.safetensors").unlink()  # stage I: a fresh controller
    result = train(options(split_dir, tmp_path / "run", size="folder", weights=weights, steps=2), progress=False)
    trained = load_file(str(result.checkpoint / "control.safetensors"))
    assert trained["control_combine_linears.0.weight"].abs().sum() > 0  # zero-initialised fusion has moved
    shutil.copy(result.checkpoint / "control.safetensors", weights / "longvie2" / "control.safetensors")
    model = load_transformer(WeightsFolder.find(weights))  # the inference loader, with its header checks
    ours = model.state_dict()
    from longvie.checkpoint import official_control_names

    names = official_control_names(model)
    assert len(names) == len(trained)
    assert all(torch.equal(ours[mine], trained[official]) for mine, official in names.items())


def test_cli_train_is_a_plugin_command(split_dir: Path, tmp_path: Path):
    from click.testing import CliRunner

    from longvgenbench.cli import cli

    help_text = CliRunner().invoke(cli, ["train", "--help"])
    assert help_text.exit_code == 0 and "--stage" in help_text.output and "Examples" in help_text.output
    bad = CliRunner().invoke(cli, ["train", "--split", str(tmp_path / "nope"), "--out", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "no such directory" in str(bad.exception)


@pytest.mark.slow
def test_cli_train_runs_in_a_fresh_process(split_dir: Path, tmp_path: Path):
    """The installed entry point, as a user runs it (slow: a fresh interpreter imports torch and diffusers)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "longvgenbench", "train", "--split", str(split_dir), "--out",
                          str(tmp_path / "cli"), "--steps", "2", "--height", "32", "--width", "32", "--frames", "5",
                          "--grad-accum", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert "2 steps" in run.stdout
    assert (tmp_path / "cli" / "checkpoints" / "step-000002" / "control.safetensors").is_file()
