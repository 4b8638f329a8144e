"""Our VBench dimensions against VBench 0.1.5's own outputs (goldens) on the same staged random weights.

Fast (default run): the staged weights are rebuilt here (seconds) and must hold exactly the
tensors VBench used (content sha256 in the golden); the fixture arrays must be exactly what VBench
decoded (frame sha256); then every fast-enough (dimension, fixture) pair must agree within 1e-4 in
fp32. DINO is a real-size ViT-B/16 in every profile, so on the CPU only its smallest fixture runs
by default (the 9-frame 72x128 one); ``-m slow`` runs all of them, and re-runs VBench live when its venv exists
(``tests/parity/vbench_env.sh``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fixtures  # noqa: E402
import stage_weights  # noqa: E402

from evaluators.feed import score_video  # noqa: E402
from evaluators.vbench.aesthetic import AestheticQualityEvaluator  # noqa: E402
from evaluators.vbench.background import BackgroundConsistencyEvaluator  # noqa: E402
from evaluators.vbench.subject import SubjectConsistencyEvaluator  # noqa: E402
from longvgenbench.evaluation.api import Evaluator  # noqa: E402
from longvgenbench.records import Grid  # noqa: E402

GOLDENS = HERE / "goldens"
FP32_TOLERANCE = 1e-4
PROFILE = "tiny"

# How to build OUR evaluator for a dimension from a staging dir (part 2 adds its dimensions here).
OURS: dict[str, Callable[[Path], Evaluator]] = {
    "subject_consistency": lambda vb: SubjectConsistencyEvaluator(
        precision="fp32", dino_checkpoint=str(vb / "dino_model" / "dino_vitbase16_pretrain.pth")),
    "background_consistency": lambda vb: BackgroundConsistencyEvaluator(
        precision="fp32", clip_checkpoint=str(vb / "clip_model" / "ViT-B-32.pt")),
    "aesthetic_quality": lambda vb: AestheticQualityEvaluator(
        precision="fp32", clip_checkpoint=str(vb / "clip_model" / "ViT-L-14.pt"),
        head_checkpoint=str(vb / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth")),
}
# (dimension, fixture) pairs too slow for the default CPU run
SLOW = {("subject_consistency", f.name) for f in fixtures.FIXTURES if f.name != "alternate_72x128_8fps"}


def golden(dim: str) -> dict:
    return json.loads((GOLDENS / f"{dim}.{PROFILE}.json").read_text())


def _cases() -> list:
    cases = []
    for dim in OURS:
        for f in fixtures.FIXTURES:
            marks = [pytest.mark.slow] if (dim, f.name) in SLOW else []
            cases.append(pytest.param(dim, f.name, marks=marks, id=f"{dim}-{f.name}"))
    return cases


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("staged")
    stage_weights.stage(out, PROFILE, list(OURS))
    return out


@pytest.fixture(scope="module")
def evaluators(staged: Path) -> dict[str, Evaluator]:
    return {dim: make(staged / stage_weights.VBENCH_DIR) for dim, make in OURS.items()}


@pytest.mark.parametrize("dim", list(OURS))
def test_staged_weights_are_the_ones_vbench_used(staged: Path, dim: str) -> None:
    manifest = json.loads((staged / f"manifest.{PROFILE}.json").read_text())
    ours = {f["relpath"]: f["content_sha256"] for f in manifest["files"][dim]}
    theirs = {f["relpath"]: f["content_sha256"] for f in golden(dim)["weights"]}
    assert ours == theirs


@pytest.mark.parametrize("dim", list(OURS))
def test_fixture_frames_are_the_ones_vbench_decoded(dim: str) -> None:
    recorded = golden(dim)["fixtures"]
    assert set(recorded) == {f.name for f in fixtures.FIXTURES}, "goldens are stale: re-run run_vbench.py"
    for f in fixtures.FIXTURES:
        assert recorded[f.name]["frames_sha256"] == fixtures.frames_sha256(f.frames()), f.name


def whole_fixture_score(evaluator: Evaluator, dim: str, f: fixtures.Fixture) -> float:
    """Our score of the whole fixture as one clip (VBench scores the whole file)."""
    frames = f.frames()
    grid = Grid(clip_frames=len(frames), stride=max(1, len(frames) - 1), fps=f.fps, height=f.height, width=f.width)
    scores = score_video(evaluator, frames, grid=grid)
    assert len(scores.clips) == 1
    return scores.clips[0][dim]


@pytest.mark.parametrize(("dim", "name"), _cases())
def test_matches_vbench_fp32(evaluators: dict[str, Evaluator], dim: str, name: str) -> None:
    reference = golden(dim)["vbench_per_video"][name]
    ours = whole_fixture_score(evaluators[dim], dim, fixtures.fixture(name))
    assert abs(ours - reference) <= FP32_TOLERANCE, f"{dim} on {name}: ours {ours:.7f}, VBench {reference:.7f}"


def test_goldens_discriminate() -> None:
    """The goldens are not all the same number: static scores 1, moving content clearly less."""
    for dim in ("subject_consistency", "background_consistency"):
        scores = golden(dim)["vbench_per_video"]
        assert scores["static_64x112_16fps"] == pytest.approx(1.0, abs=1e-5)
        assert min(scores.values()) < 0.97


VBENCH_VENV = Path(os.environ.get("VBENCH_VENV", "/work/vbench-venv"))
DINO_REPO = Path(os.environ.get("DINO_REPO", "/work/.mirror/facebookresearch+dino/repo"))


@pytest.mark.slow
@pytest.mark.skipif(not (VBENCH_VENV / "bin" / "python").exists(), reason="no VBench venv (run vbench_env.sh)")
@pytest.mark.skipif(not DINO_REPO.exists(), reason="no facebookresearch/dino clone or mirror (set DINO_REPO)")
def test_live_vbench_reproduces_goldens(tmp_path: Path) -> None:
    """Re-run VBench itself: its numbers must equal the committed goldens (and so stay within tolerance of ours)."""
    staged = tmp_path / "staged"
    stage_weights.stage(staged, PROFILE, list(OURS), DINO_REPO)
    fixtures.write_fixtures(tmp_path / "fixtures")
    out = tmp_path / "goldens"
    subprocess.run([str(VBENCH_VENV / "bin" / "python"), str(HERE / "run_vbench.py"), "--staged", str(staged),
                    "--fixtures", str(tmp_path / "fixtures"), "--dims", ",".join(OURS), "--profile", PROFILE,
                    "--out", str(out)], check=True, timeout=1800)
    for dim in OURS:
        live = json.loads((out / f"{dim}.{PROFILE}.json").read_text())["vbench_per_video"]
        for name, value in golden(dim)["vbench_per_video"].items():
            assert live[name] == pytest.approx(value, abs=1e-6), f"{dim} {name}"


FAST_PRECISION_TOLERANCE = 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 autocast needs CUDA")
@pytest.mark.parametrize("dim", list(OURS))
def test_fast_precision_within_1e3_of_vbench(staged: Path, dim: str) -> None:
    """The default CUDA precision (fp16 autocast) against VBench's fp32 numbers, every fixture."""
    evaluator = OURS[dim](staged / stage_weights.VBENCH_DIR)
    fast = type(evaluator)(device="cuda", precision="auto", **{
        key: str(path) for key, path in _checkpoint_options(evaluator).items()})
    assert fast.precision == "fp16"
    worst = 0.0
    for f in fixtures.FIXTURES:
        reference = golden(dim)["vbench_per_video"][f.name]
        worst = max(worst, abs(whole_fixture_score(fast, dim, f) - reference))
    print(f"{dim}: worst |fp16 - VBench fp32| = {worst:.2e}")
    assert worst <= FAST_PRECISION_TOLERANCE


def _checkpoint_options(evaluator: Evaluator) -> dict[str, Path]:
    """The constructor's checkpoint options of an evaluator built by OURS (same files, other device/precision)."""
    names = {"dino_vitb16": "dino_checkpoint", "clip_vit_b32_openai": "clip_checkpoint",
             "clip_vit_l14_openai": "clip_checkpoint", "laion_aesthetic_vit_l14": "head_checkpoint"}
    return {names[key]: path for key, path in evaluator.weight_paths().items()}
