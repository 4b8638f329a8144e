"""Integration tests through the CLI: the offline job end to end, kill -9 and resume, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = ["-p", "num_videos=2", "-p", "num_clips=2", "-p", "height=64", "-p", "width=112", "-p", "track_grid=8,8"]


def cli(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "longvgenbench", *args], capture_output=True, text=True,
                            timeout=600, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split") / "tiny"
    cli("splits", "make", "synthetic-mini", "--out", str(out), *TINY)
    return out


@pytest.fixture(scope="module")
def demo(tiny_split, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "demo"
    cli("run", "--split", str(tiny_split), "--model", "static", "--model", "oracle", "--model", "depth-warp",
        "--out", str(out))
    return out


def _overall(run: Path, metric: str) -> float:
    data = json.loads((run / "results.json").read_text())
    return next(m["overall"]["mean"] for m in data["metrics"] if m["metric"] == metric)


def test_offline_job_end_to_end(demo):
    assert _overall(demo / "oracle", "ssim") == pytest.approx(1.0, abs=1e-6)
    psnr = {m: _overall(demo / m, "psnr") for m in ("static", "oracle", "depth-warp")}
    assert psnr["oracle"] == max(psnr.values())
    assert _overall(demo / "static", "motion_magnitude") == 0.0
    motion = {m: _overall(demo / m, "motion_magnitude") for m in ("oracle", "depth-warp")}
    assert all(v > 0 for v in motion.values())
    ssim_warp = _overall(demo / "depth-warp", "ssim")
    assert _overall(demo / "static", "ssim") < 1.0 and ssim_warp < 1.0
    report = demo / "report"
    html = (report / "report.html").read_text()
    assert "oracle" in html and "depth-warp" in html and "ssim" in html
    markdown = (report / "report.md").read_text()
    assert "unavailable" in markdown.lower()  # lpips has no backbone weights here and says so
    results = json.loads((demo / "oracle" / "results.json").read_text())
    assert results["schema_version"] and results["split_manifest_sha256"]
    assert {"git_commit", "packages", "device"} <= set(results["provenance"])
    lines = (demo / "oracle" / "samples.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    assert {"evaluator", "evaluator_version", "weights", "video_id", "clip_index"} <= set(row)


def _hash_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "videos").rglob("*")) if p.is_file() and p.suffix != ".json"}


def test_kill_9_mid_video_then_resume_is_byte_identical(tiny_split, tmp_path):
    cli("generate", "--model", "depth-warp", "--split", str(tiny_split), "--out", str(tmp_path / "full"))
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "longvgenbench", "generate", "--model", "depth-warp",
                             "--split", str(tiny_split), "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    first_video = sorted(p.name for p in (tiny_split / "videos").iterdir())[0]
    marker = killed / "videos" / first_video / "segments" / "0000.json"
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in killed.glob("videos/*/segments/*.json"))
    assert 1 <= len(done) < 4
    resumed = cli("generate", "--model", "depth-warp", "--split", str(tiny_split), "--out", str(killed))
    assert "reused" in resumed.stdout
    assert _hash_tree(tmp_path / "full") == _hash_tree(killed)


def test_unknown_names_suggest(tiny_split, tmp_path):
    result = cli("generate", "--model", "depth_warp", "--split", str(tiny_split), "--out", str(tmp_path), check=False)
    assert result.returncode == 2 and "Did you mean 'depth-warp'" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli("evaluate", str(tmp_path), "-e", "ssmi", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_tampered_split_is_refused_by_name(tiny_split, tmp_path):
    import shutil

    copy = tmp_path / "split"
    shutil.copytree(tiny_split, copy)
    victim = sorted(copy.glob("videos/*/clips/*/tracks.npz"))[0]
    victim.write_bytes(victim.read_bytes() + b"x")
    result = cli("splits", "verify", str(copy), check=False)
    assert result.returncode == 2 and victim.name in result.stderr and "Traceback" not in result.stderr


def test_corrupt_ground_truth_is_a_clear_error_and_keeps_results(demo, tiny_split, tmp_path):
    import shutil

    split = tmp_path / "split"
    shutil.copytree(tiny_split, split)
    run = tmp_path / "run"
    shutil.copytree(demo / "static", run)
    before = (run / "results.json").read_bytes()
    truth = sorted(split.glob("videos/*/ground_truth.mp4"))[0]
    truth.write_bytes(truth.read_bytes()[: truth.stat().st_size // 3])
    # The manifest catches it first (sha256); the message names the file.
    result = cli("evaluate", str(run), "--split", str(split), "--recompute", check=False)
    assert result.returncode == 2 and "ground_truth.mp4" in result.stderr and "Traceback" not in result.stderr
    assert (run / "results.json").read_bytes() == before


# The CLI as a terminal starts it: Python's own Ctrl-C handler installed even when this test runs under a
# parent that ignores SIGINT (a shell's background job does, and the child would inherit that and never stop),
# and each depth-warp segment slowed by 0.3 s so that the signal lands mid-run however fast the machine is.
_CLI_FROM_A_TERMINAL = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from baselines.depth_warp import DepthWarpModel
fast = DepthWarpModel.generate_segment
def slow(self, request, state):
    time.sleep(0.3)
    return fast(self, request, state)
DepthWarpModel.generate_segment = slow
from longvgenbench.cli import main
sys.argv[0] = "longvgenbench"
main()
"""


def test_ctrl_c_exits_130_and_the_same_command_resumes(tiny_split, tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-c", _CLI_FROM_A_TERMINAL, "generate", "--model", "depth-warp", "--split", str(tiny_split),
            "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(out.glob("videos/*/segments/0000.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    resumed = cli("generate", "--model", "depth-warp", "--split", str(tiny_split), "--out", str(out))
    assert "reused" in resumed.stdout and "0 reused" not in resumed.stdout
