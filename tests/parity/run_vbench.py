"""Run VBench 0.1.5 itself on the parity fixtures with staged weights and write golden files.

Run with the VBench venv's python (``bash tests/parity/vbench_env.sh`` makes it), never ours:

    /work/vbench-venv/bin/python tests/parity/run_vbench.py --staged /tmp/parity/stage_tiny \\
        --fixtures /tmp/parity/fixtures --dims background_consistency,aesthetic_quality --profile tiny

``--staged`` is a directory made by ``stage_weights.py`` (same profile); ``--fixtures`` one made by
``fixtures.py``. VBench is driven through its public entry point (``VBench.evaluate`` with
``local=True, mode='custom_input'``), so its own preprocessing, model loading and averaging run.
For each dimension, ``goldens/<dim>.<profile>.json`` records VBench's per-video scores, its
aggregate, the sha256 of the frames VBench decoded from each fixture (the fast test checks them
against the arrays it feeds our evaluators), the staged weights' hashes and the versions used.
Nothing is downloaded: the environment points VBench's cache and torch hub at the staging dir.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fixtures  # noqa: E402  (the harness's own module, importable from this directory)
from stage_weights import TORCH_HOME_DIR, VBENCH_DIR  # noqa: E402


def _point_caches_at(staged: Path) -> None:
    """VBench reads VBENCH_CACHE_DIR at import; torch hub reads TORCH_HOME when it loads DINO."""
    os.environ["VBENCH_CACHE_DIR"] = str(staged / VBENCH_DIR)
    os.environ["TORCH_HOME"] = str(staged / TORCH_HOME_DIR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def decoded_frames_sha256(video: Path) -> str:
    """sha256 of the frames exactly as VBench's loader hands them to the dimensions."""
    import numpy as np
    from vbench.utils import load_video

    frames = load_video(str(video))  # float tensor (T, C, H, W) holding uint8 values
    array = frames.permute(0, 2, 3, 1).numpy()
    if not np.array_equal(array, array.round()):
        raise RuntimeError(f"{video}: VBench decoded non-integer values")
    return fixtures.frames_sha256(array.astype(np.uint8))


def run_dimension(dim: str, fixture_dir: Path, device: str, work: Path,
                  prompts: dict[str, str] | None = None) -> tuple[float, dict[str, float]]:
    """VBench's aggregate and per-video scores for one dimension over every fixture video.

    ``prompts`` (file name -> prompt) goes to VBench's ``prompt_list``; without it VBench's
    custom_input mode takes the file name as the prompt.
    """
    from vbench import VBench

    bench = VBench(device, str(work / "full_info_unused.json"), str(work / "out"))
    bench.evaluate(videos_path=str(fixture_dir), name=dim, dimension_list=[dim], local=True, mode="custom_input",
                   prompt_list=prompts or [])
    results = json.loads((work / "out" / f"{dim}_eval_results.json").read_text())[dim]
    aggregate, per_video = results[0], results[1]
    scores = {Path(item["video_path"]).stem: float(item["video_results"]) for item in per_video}
    return float(aggregate), scores


def _vbench_cannot(dim: str, f: fixtures.Fixture) -> str:
    """Why VBench 0.1.5 cannot score fixture ``f`` on ``dim`` ('' if it can)."""
    padded = min(-(-f.height // 8) * 8, -(-f.width // 8) * 8)
    if dim == "dynamic_degree" and padded < 64:  # RAFT's 4-level correlation pyramid needs 8 cells at 1/8 scale
        return f"RAFT's correlation pyramid needs both sides >= 64 px after padding, got {f.height}x{f.width}"
    return ""


def _viclip_tokens(prompts: object) -> dict[str, list[int]]:
    """The token ids VBench's ViCLIP text encoder feeds its transformer, per prompt (32 each)."""
    from vbench.third_party.ViCLIP.viclip_text import CLIP_TEXT

    encoder = CLIP_TEXT(8, 32, 49408, 8, 1, 0, 0)
    return {p: encoder.tokenize(p, context_length=32)[0].tolist() for p in prompts}


def _record_dynamic_pairs() -> dict[str, list[float]]:
    """Wrap VBench's DynamicDegree so every video's pair scores (top-5% flow magnitudes) are kept, by file stem."""
    from vbench.dynamic_degree import DynamicDegree

    recorded: dict[str, list[float]] = {}
    original_infer, original_check = DynamicDegree.infer, DynamicDegree.check_move
    current: list[str] = []

    def infer(self, video_path):
        current[:] = [Path(video_path).stem]
        return original_infer(self, video_path)

    def check_move(self, score_list):
        recorded[current[0]] = [float(x) for x in score_list]
        return original_check(self, score_list)

    DynamicDegree.infer, DynamicDegree.check_move = infer, check_move
    return recorded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staged", type=Path, required=True)
    parser.add_argument("--fixtures", type=Path, required=True)
    parser.add_argument("--dims", required=True, help="comma-separated VBench dimensions")
    parser.add_argument("--profile", required=True, help="the staging profile (goes into the golden's name)")
    parser.add_argument("--device", default="cpu", help="cpu for fp32 goldens (VBench's CLIP runs fp16 on CUDA)")
    parser.add_argument("--out", type=Path, default=HERE / "goldens")
    args = parser.parse_args(argv)

    staged, fixture_dir = args.staged.resolve(), args.fixtures.resolve()
    _point_caches_at(staged)
    from importlib.metadata import version

    import torch
    import vbench  # noqa: F401  (imported after the environment is set)

    manifest = json.loads((staged / f"manifest.{args.profile}.json").read_text())
    videos = sorted(fixture_dir.glob("*.mp4"))
    expected = {f.name for f in fixtures.FIXTURES}
    if {v.stem for v in videos} != expected:
        sys.exit(f"{fixture_dir} must hold exactly the fixtures {sorted(expected)}; run fixtures.py")
    decoded = {v.stem: decoded_frames_sha256(v) for v in videos}
    made = {f.name: fixtures.frames_sha256(f.frames()) for f in fixtures.FIXTURES}
    if decoded != made:
        bad = sorted(k for k in made if decoded[k] != made[k])
        sys.exit(f"VBench decodes {bad} differently from the fixture arrays; parity would be meaningless")

    args.out.mkdir(parents=True, exist_ok=True)
    for dim in args.dims.split(","):
        if dim not in manifest["files"]:
            sys.exit(f"{staged} has no staged weights for {dim}; run stage_weights.py --dims {dim}")
        torch.manual_seed(0)
        extra: dict = {}
        prompts = None
        if dim == "overall_consistency":  # captions per fixture; tiny ViCLIP built from VBench's own classes
            import stage_viclip

            stage_viclip.patch_vbench_for_tiny(args.profile)
            prompts = {f"{f.name}.mp4": stage_viclip.caption(f.name) for f in fixtures.FIXTURES}
            extra = {"prompts": {Path(k).stem: v for k, v in prompts.items()},
                     "vbench_tokens": _viclip_tokens(prompts.values())}
        recorder = _record_dynamic_pairs() if dim == "dynamic_degree" else None
        skipped = {f.name: reason for f in fixtures.FIXTURES if (reason := _vbench_cannot(dim, f))}
        with tempfile.TemporaryDirectory() as work:
            videos_dir = fixture_dir
            if skipped:  # VBench would crash on these: give it the others (recorded in the golden)
                videos_dir = Path(work) / "videos"
                videos_dir.mkdir()
                for video in videos:
                    if video.stem not in skipped:
                        (videos_dir / video.name).symlink_to(video)
            aggregate, scores = run_dimension(dim, videos_dir, args.device, Path(work), prompts)
        if recorder is not None:
            extra = {"vbench_pair_scores": recorder}
        if skipped:
            extra["vbench_cannot_score"] = skipped
        golden = {
            "dimension": dim, "profile": args.profile, "device": args.device,
            "made_with": {"vbench": version("vbench"), "torch": torch.__version__,
                          "transformers": version("transformers"), "python": platform.python_version(),
                          "date": datetime.date.today().isoformat(),
                          "command": " ".join(["run_vbench.py", *(argv if argv is not None else sys.argv[1:])])},
            "weights": manifest["files"][dim],
            "fixtures": {f.name: {"frames_sha256": made[f.name], "fps": f.fps, "num_frames": f.num_frames,
                                  "height": f.height, "width": f.width} for f in fixtures.FIXTURES},
            "vbench_aggregate": aggregate,
            "vbench_per_video": dict(sorted(scores.items())),
            **extra,
        }
        path = args.out / f"{dim}.{args.profile}.json"
        path.write_text(json.dumps(golden, indent=1) + "\n")
        print(f"{dim}: aggregate {aggregate:.6f}, {len(scores)} videos -> {path}")


if __name__ == "__main__":
    main()
