"""Several ranks on CPU (gloo, 127.0.0.1): same numbers at any world size, resume on another world size,
a failing rank keeps everyone's finished work and the re-run does only what is missing.

Ranks are spawned with ``torch.multiprocessing`` and get torchrun's environment variables, so the
code under test is exactly what ``torchrun -m longvgenbench ...`` runs. Workers are module-level
functions (spawned processes import this module by name).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import pytest
import torch.multiprocessing as mp
from core_fixtures import ToyModel, TruthError, make_tiny_split

from longvgenbench import distributed
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec
from longvgenbench.evaluation.engine import evaluate_run
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.sharding import ShardsMissingError

# -- spawning ranks -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_entry(rank: int, world: int, port: int, work, args) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"})
    with distributed.session("cpu") as ranks:
        assert ranks.world_size == world and ranks.rank == rank and ranks.backend == "gloo"
        work(ranks, *args)


def launch(world: int, work, *args) -> None:
    """Run ``work(ranks, *args)`` on ``world`` processes joined in one gloo group (like torchrun)."""
    mp.start_processes(_rank_entry, args=(world, _free_port(), work, args), nprocs=world, join=True,
                       start_method="spawn")


# -- models and evaluators that leave traces --------------------------------------------------------


def _trace(folder: Path | None, line: str) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{os.getpid()}.txt", "a") as handle:
            handle.write(line + "\n")


def _traced(folder: Path) -> list[str]:
    files = sorted(folder.glob("*.txt")) if folder.exists() else []
    return [line for f in files for line in f.read_text().splitlines()]


class TracedToyModel(ToyModel):
    """The toy model, writing every segment it generates to ``trace`` (one file per process); it can be made to
    die (SIGKILL, like an OOM kill) or to raise on one segment."""

    def __init__(self, trace: Path | None = None, kill_at: tuple[str, int] | None = None,
                 raise_at: tuple[str, int] | None = None) -> None:
        super().__init__()
        self.trace, self.kill_at, self.raise_at = trace, kill_at, raise_at

    def generate_segment(self, request, state):
        key = (request.sample.video_id, request.segment.index)
        if key == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if key == self.raise_at:
            raise RuntimeError(f"simulated failure on {key[0]} segment {key[1]}")
        _trace(self.trace, f"{key[0]} {key[1]}")
        return super().generate_segment(request, state)


class MeanBrightness(ClipEvaluator):
    name = "mean_brightness"
    version = "1"
    metrics = (MetricSpec("mean_brightness", Level.CLIP, True, "mean pixel value"),)

    def __init__(self, device: str = "cpu", trace: Path | None = None, fail_at: tuple[str, int] | None = None):
        super().__init__(device)
        self.trace, self.fail_at = trace, fail_at

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        if (clip.sample.video_id, clip.segment.index) == self.fail_at:
            raise RuntimeError("simulated evaluator failure")
        _trace(self.trace, f"{clip.sample.video_id} {clip.segment.index}")
        return {"mean_brightness": float(clip.frames.mean())}


def evaluators(trace: Path | None = None, fail_at: tuple[str, int] | None = None):
    """Clip-level (with and without ground truth) and sequential (colour, boundary) evaluators. The torch-based
    ones (PSNR, SSIM) are left to the single-process batch-size test: importing torchmetrics in every spawned
    rank would cost more than the rest of these tests."""
    from evaluators.boundary import BoundaryContinuityEvaluator
    from evaluators.colour import ColourConsistencyEvaluator
    from evaluators.flicker import TemporalFlickeringEvaluator

    return [MeanBrightness(trace=trace, fail_at=fail_at), TruthError(), TemporalFlickeringEvaluator(),
            ColourConsistencyEvaluator(), BoundaryContinuityEvaluator()]


# -- rank workers -----------------------------------------------------------------------------------


def _generate_and_evaluate(ranks, split, out: Path, trace: Path) -> None:
    generate(ToyModel(), split, out, ranks=ranks)
    evaluate_run(out, split, evaluators(trace=trace), ranks=ranks)


def _generate(ranks, split, out: Path, model_options: dict) -> None:
    generate(TracedToyModel(**model_options), split, out, ranks=ranks)


def _fail_one_video_and_one_clip(ranks, split, generation: Path, evaluation: Path, report: Path) -> None:
    """A model that raises on one video, then an evaluator that raises on one clip (of a complete run)."""
    for stage, run in (("generation", lambda: generate(TracedToyModel(raise_at=("vid1", 1)), split, generation,
                                                      ranks=ranks)),
                       ("evaluation", lambda: evaluate_run(evaluation, split, evaluators(fail_at=("vid2", 1)),
                                                           ranks=ranks))):
        try:
            run()
        except ShardsMissingError as exc:
            (report / f"{stage}-rank{ranks.rank}.txt").write_text(str(exc))


# -- fixtures ---------------------------------------------------------------------------------------


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every generated file (segment records hold timings, so they are left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "videos").rglob("*")) if p.is_file() and p.suffix != ".json"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny split (3 videos x 3 segments) generated and evaluated by one process."""
    root = tmp_path_factory.mktemp("distributed")
    split = make_tiny_split(root / "split", num_videos=3)
    generate(ToyModel(), split, root / "single")
    evaluate_run(root / "single", split, evaluators())
    return split, root / "single"


def test_two_ranks_give_the_same_results_as_one(reference, tmp_path):
    split, single = reference
    launch(2, _generate_and_evaluate, split, tmp_path / "run", tmp_path / "trace")
    assert _hashes(tmp_path / "run") == _hashes(single)
    one, two = (json.loads((d / "results.json").read_text()) for d in (single, tmp_path / "run"))
    assert one["metrics"] == two["metrics"]  # every aggregate, bit for bit
    assert two["provenance"]["world_size"] == 2 and one["provenance"]["world_size"] == 1
    assert (single / "samples.jsonl").read_text() == (tmp_path / "run" / "samples.jsonl").read_text()
    scored = _traced(tmp_path / "trace")  # each clip scored once, by both ranks together
    assert sorted(scored) == sorted(f"vid{v} {k}" for v in range(3) for k in range(3))
    assert len(list((tmp_path / "trace").glob("*.txt"))) == 2


def test_batch_size_does_not_change_the_numbers(reference, tmp_path):
    from evaluators.reference import PSNREvaluator, SSIMEvaluator

    split, single = reference
    results = []
    for batch in (1, 5):
        out = tmp_path / f"batch{batch}"
        shutil.copytree(single / "videos", out / "videos")
        shutil.copy(single / "run.json", out / "run.json")
        summary = evaluate_run(out, split, [PSNREvaluator(batch_size=batch), SSIMEvaluator(batch_size=batch)])
        results.append(json.loads(json.dumps([asdict(m) for m in summary.results.metrics])))
    assert results[0] == results[1] and {m["metric"] for m in results[0]} >= {"psnr", "ssim"}


def test_killed_two_rank_run_resumes_on_three_and_on_one(reference, tmp_path):
    split, single = reference
    killed = tmp_path / "killed"
    with pytest.raises(mp.ProcessExitedException):
        launch(2, _generate, split, killed, {"trace": tmp_path / "t0", "kill_at": ("vid1", 1)})
    run = RunDir(killed)
    finished = {f"{s.video_id} {k}" for s in split.samples for k in range(run.finished_segments(s.video_id, 3))}
    assert "vid1 0" in finished and "vid1 1" not in finished
    everything = {f"vid{v} {k}" for v in range(3) for k in range(3)}
    shutil.copytree(killed, tmp_path / "resumed3")
    launch(3, _generate, split, tmp_path / "resumed3", {"trace": tmp_path / "t3"})
    assert sorted(_traced(tmp_path / "t3")) == sorted(everything - finished)  # nothing finished is redone
    assert _hashes(tmp_path / "resumed3") == _hashes(single)  # (leftover temp files of the kill removed too)
    model = TracedToyModel()
    generate(model, split, killed)  # the same killed run, resumed by one process
    assert sorted(f"{v} {k}" for v, k in model.calls) == sorted(everything - finished)
    assert _hashes(killed) == _hashes(single)


def test_failing_rank_keeps_the_others_work_and_the_rerun_does_only_its_shards(reference, tmp_path):
    split, single = reference
    generation, evaluation, report = tmp_path / "generation", tmp_path / "evaluation", tmp_path / "report"
    report.mkdir()
    shutil.copytree(single / "videos", evaluation / "videos")
    shutil.copy(single / "run.json", evaluation / "run.json")
    launch(2, _fail_one_video_and_one_clip, split, generation, evaluation, report)

    message = (report / "generation-rank0.txt").read_text()
    assert message == (report / "generation-rank1.txt").read_text()  # every rank knows what is missing
    assert "vid1: segments 1-2 of 3 (rank" in message and "simulated failure on vid1 segment 1" in message
    run = RunDir(generation)
    assert [run.finished_segments(f"vid{v}", 3) for v in range(3)] == [3, 1, 3]
    assert run.assembled_video("vid0").exists() and run.assembled_video("vid2").exists()
    model = ToyModel()
    summary = generate(model, split, generation)
    assert model.calls == [("vid1", 1), ("vid1", 2)] and summary.segments_reused == 7
    assert _hashes(generation) == _hashes(single)

    message = (report / "evaluation-rank0.txt").read_text()
    assert message == (report / "evaluation-rank1.txt").read_text()
    assert "vid2: mean_brightness clips 1 (rank" in message and "simulated evaluator failure" in message
    assert "1 shard(s) missing" in message  # the other evaluators, and its other clips, were scored
    assert not (evaluation / "results.json").exists()
    trace = tmp_path / "trace"
    evaluate_run(evaluation, split, evaluators(trace=trace))
    assert _traced(trace) == ["vid2 1"]  # only the missing clip is scored again
    assert (evaluation / "samples.jsonl").read_text() == (single / "samples.jsonl").read_text()


# -- the real entry point: torchrun -m longvgenbench ------------------------------------------------

CLI_EVALUATORS = ["-e", "psnr", "-e", "temporal_flickering", "-e", "colour_consistency", "-e", "boundary_continuity"]


def _cli(*args: str, procs: int = 0) -> None:
    import subprocess
    import sys

    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs), "--master-addr",
                 "127.0.0.1", "--master-port", str(_free_port()), "-m", "longvgenbench"] if procs
                else [sys.executable, "-m", "longvgenbench"])
    done = subprocess.run([*launcher, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_torchrun_cli_run_and_evaluate_match_one_process(tmp_path):
    split = tmp_path / "split"
    _cli("splits", "make", "synthetic-mini", "--out", str(split), "-p", "num_videos=3", "-p", "num_clips=2",
         "-p", "height=64", "-p", "width=112", "-p", "track_grid=8,8")
    _cli("run", "--split", str(split), "--model", "static", "--out", str(tmp_path / "one"), "--no-report",
         *CLI_EVALUATORS)
    _cli("run", "--split", str(split), "--model", "static", "--out", str(tmp_path / "two"), *CLI_EVALUATORS, procs=2)
    metrics = [json.loads((tmp_path / d / "static" / "results.json").read_text())["metrics"] for d in ("one", "two")]
    assert metrics[0] == metrics[1]
    assert (tmp_path / "two" / "report" / "report.html").exists()  # written once, by rank 0
    _cli("evaluate", str(tmp_path / "two" / "static"), "--recompute", *CLI_EVALUATORS, procs=3)
    again = json.loads((tmp_path / "two" / "static" / "results.json").read_text())
    assert again["metrics"] == metrics[0] and again["provenance"]["world_size"] == 3
