"""CLI commands that do the work: ``generate``, ``evaluate``, ``run`` (both) and ``report``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from tqdm import tqdm

from longvgenbench import distributed, registry
from longvgenbench.cli import _parse_params, cli
from longvgenbench.distributed import SINGLE, Ranks, on_main
from longvgenbench.errors import LongVGenBenchError, OptionError
from longvgenbench.records import Split

OVERWRITE_HELP = ("What to do with generations already in --out: 'missing' keeps finished work and does the rest "
                  "(resume); 'never' refuses to touch a directory with generations; 'always' moves them aside into "
                  "OUT/.replaced/ and starts over (nothing is deleted).")


def _load_split(split: str):
    from longvgenbench.splits.api import load_split

    return load_split(split, verify=True)


class _Bar:
    """A tqdm bar fed by the runner's and engine's progress hooks; shown on rank 0 only.

    Its total is this rank's share of the work (set by the ``on_plan`` hook once rank 0 has planned).
    """

    def __init__(self, desc: str, unit: str, ranks: Ranks) -> None:
        if ranks.is_distributed:
            desc = f"{desc} [rank 0 of {ranks.world_size}: its share]"
        self.bar = tqdm(total=None, desc=desc, unit=unit, dynamic_ncols=True, leave=True, disable=not ranks.is_main)

    def planned(self, total: int) -> None:
        self.bar.reset(total=total)

    def advance(self, video_id: str, done: int, total: int) -> None:
        self.bar.set_postfix_str(f"{video_id} {done}/{total}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _echo(ranks: Ranks, message: str) -> None:
    """Summaries are printed once, by rank 0."""
    if ranks.is_main:
        click.echo(message)


def do_generate(model_name: str, split, out: Path, seed: int, overwrite: str, videos: Sequence[str],
                device: str, options: dict[str, object], ranks: Ranks = SINGLE) -> None:
    from longvgenbench.runner import Overwrite, generate

    model = registry.create_model(model_name, device=device, **options)
    bar = _Bar(f"generate {model_name}", "seg", ranks)
    try:
        summary = generate(model, split, out, seed=seed, overwrite=Overwrite(overwrite), video_ids=list(videos),
                           device=device, progress=bar.advance, ranks=ranks, on_plan=bar.planned)
    finally:
        bar.close()
    _echo(ranks, f"{model_name}: {summary.segments_generated} segments generated, {summary.segments_reused} reused, "
                 f"{summary.videos} videos in {summary.seconds:.1f} s -> {out}")


def do_evaluate(run_dir: Path, split, evaluator_names: Sequence[str], device: str, recompute: bool,
                ranks: Ranks = SINGLE, evaluator_options: dict[str, dict[str, object]] | None = None,
                at_once: bool | None = None) -> None:
    from longvgenbench.evaluation.engine import evaluate_run

    names = list(evaluator_names) or registry.names(registry.EVALUATORS)
    options = evaluator_options or {}
    stray = sorted(set(options) - set(names))
    if stray:
        raise OptionError(f"--evaluator-option names evaluators that are not run: {stray}; run: {names}")
    evaluators = [registry.create_evaluator(n, device=device, **options.get(n, {})) for n in names]
    bar = _Bar(f"evaluate {run_dir.name}", "clip", ranks)
    try:
        summary = evaluate_run(run_dir, split, evaluators, device=device, recompute=recompute,
                               progress=bar.advance, ranks=ranks, on_plan=bar.planned, parallel=at_once)
    finally:
        bar.close()
    results = summary.results
    _echo(ranks, f"{results.model}: {len(results.metrics)} metrics over {results.num_videos} videos "
                 f"({summary.videos_scored} scored, {summary.videos_reused} reused) -> {run_dir / 'results.json'}")
    for item in results.unavailable:
        _echo(ranks, f"  unavailable: {item.evaluator}: {item.reason}")


def _shared_split(ranks: Ranks, load: Callable[[], Split]) -> Split:
    """Rank 0 loads (and, for a registered name, makes) the split and checks its files; the others get
    the same record, so they neither race to make it nor hash every file again."""
    return on_main(ranks, load)


def _split_of_run(run_dir: Path, split: str | None):
    if split is not None:
        return _load_split(split)
    manifest = run_dir / "run.json"
    if not manifest.exists():
        raise LongVGenBenchError(f"{run_dir} has no run.json; pass --split")
    recorded = json.loads(manifest.read_text())
    return _load_split(recorded.get("split_root") or recorded["split"])


def _evaluator_option(f):
    f = click.option("--evaluators-at-once/--evaluators-in-turn", "at_once", default=None,
                     help="Score each clip with all evaluators side by side on CUDA streams, or one after the "
                          "other (default: in turn, which measured as fast on an H100 with less memory; the "
                          "numbers are the same either way).")(f)
    f = click.option("-E", "--evaluator-option", "evaluator_options", multiple=True, metavar="NAME.KEY=VALUE",
                     help="Option of one evaluator (repeatable), e.g. -E imaging_quality.batch_size=32 or "
                          "-E lpips.verify_weights=false (for one's own or staged weight files).")(f)
    return click.option("-e", "--evaluator", "evaluators", multiple=True,
                        help="Evaluator to run (repeatable). Default: every registered evaluator; those whose "
                             "weights are missing are reported as unavailable.")(f)


def _parse_evaluator_options(pairs: Sequence[str]) -> dict[str, dict[str, object]]:
    """``NAME.KEY=VALUE`` -> {NAME: {KEY: value}}; values parsed like model options (int, float, bool, tuple)."""
    grouped: dict[str, dict[str, object]] = {}
    for pair in pairs:
        target, sep, _ = pair.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not name or not key:
            raise click.BadParameter(f"{pair!r} is not NAME.KEY=VALUE (e.g. lpips.verify_weights=false)",
                                     param_hint="--evaluator-option")
        registry.load(registry.EVALUATORS, name)  # a misspelt evaluator fails here, by name
        grouped.setdefault(name, {}).update(_parse_params((pair[len(name) + 1:],)))
    return grouped


@cli.command("generate")
@click.option("-m", "--model", required=True, help="Model name (see `longvgenbench ls models`).")
@click.option("-s", "--split", required=True, help="Split directory, upstream-layout folder, or registered name.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; each video derives its own.")
@click.option("--overwrite", type=click.Choice(["never", "missing", "always"]), default="missing",
              show_default=True, help=OVERWRITE_HELP)
@click.option("--video", "videos", multiple=True, help="Only these video ids (repeatable).")
@click.option("--device", default="cpu", show_default=True, help="torch device for the model.")
@click.option("-O", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Model option.")
def generate_command(model: str, split: str, out: Path, seed: int, overwrite: str, videos: tuple[str, ...],
                     device: str, options: tuple[str, ...]) -> None:
    """Generate long videos segment by segment; a killed run resumes where it stopped.

    \b
    Example:
      longvgenbench generate --model depth-warp --split synthetic-mini --out runs/demo/depth-warp
    On 4 GPUs (whole videos shared out; resumes on any number of processes):
      torchrun --nproc-per-node 4 -m longvgenbench generate --model depth-warp \\
          --split synthetic-mini --out runs/demo/depth-warp --device cuda
    """
    registry.load(registry.MODELS, model)  # fail on a misspelt name before loading the split
    with distributed.session(device) as ranks:
        loaded = _shared_split(ranks, lambda: _load_split(split))
        do_generate(model, loaded, out, seed, overwrite, videos, distributed.rank_device(device, ranks.local_rank),
                    _parse_params(options), ranks)


@cli.command("evaluate")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-s", "--split", default=None, help="Split (default: the one recorded in RUN_DIR/run.json).")
@_evaluator_option
@click.option("--device", default="cpu", show_default=True, help="torch device for learned metrics.")
@click.option("--recompute", is_flag=True, help="Score again even where scores exist.")
def evaluate_command(run_dir: Path, split: str | None, evaluators: tuple[str, ...], device: str,
                     recompute: bool, evaluator_options: tuple[str, ...] = (), at_once: bool | None = None) -> None:
    """Score a run directory; writes samples.jsonl and results.json.

    \b
    Example:
      longvgenbench evaluate runs/demo/depth-warp -e ssim -e psnr
    On 4 processes (clips shared out; the numbers do not depend on how many):
      torchrun --nproc-per-node 4 -m longvgenbench evaluate runs/demo/depth-warp --device cuda
    With one's own (or staged random) weight files, skipping the sha256 check of the official ones:
      longvgenbench evaluate runs/demo/depth-warp -e imaging_quality -E imaging_quality.verify_weights=false
    """
    options = _parse_evaluator_options(evaluator_options)
    with distributed.session(device) as ranks:
        loaded = _shared_split(ranks, lambda: _split_of_run(run_dir, split))
        do_evaluate(run_dir, loaded, evaluators, distributed.rank_device(device, ranks.local_rank), recompute, ranks,
                    options, at_once)


@cli.command("run")
@click.option("-m", "--model", "models", multiple=True, required=True, help="Model name (repeatable).")
@click.option("-s", "--split", required=True, help="Split directory, upstream-layout folder, or registered name.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Root directory: one run directory per model, and report/.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; each video derives its own.")
@click.option("--overwrite", type=click.Choice(["never", "missing", "always"]), default="missing",
              show_default=True, help=OVERWRITE_HELP)
@_evaluator_option
@click.option("--device", default="cpu", show_default=True, help="torch device.")
@click.option("--report/--no-report", default=True, show_default=True, help="Write OUT/report/ at the end.")
def run_command(models: tuple[str, ...], split: str, out: Path, seed: int, overwrite: str,
                evaluators: tuple[str, ...], device: str, report: bool,
                evaluator_options: tuple[str, ...] = (), at_once: bool | None = None) -> None:
    """Generate, evaluate and report, for one or more models.

    \b
    Example (the offline default, no weights needed):
      longvgenbench run --split synthetic-mini --model static --model oracle --model depth-warp --out runs/demo
    The same on 2 processes (add --nnodes/--rdzv-endpoint for several machines; see README):
      torchrun --nproc-per-node 2 -m longvgenbench run --split synthetic-mini --model static --out runs/demo
    """
    for name in models:  # fail on a misspelt name before any work starts
        registry.load(registry.MODELS, name)
    for name in evaluators:
        registry.load(registry.EVALUATORS, name)
    options = _parse_evaluator_options(evaluator_options)
    with distributed.session(device) as ranks:
        loaded = _shared_split(ranks, lambda: _load_split(split))
        rank_device = distributed.rank_device(device, ranks.local_rank)
        for name in models:
            do_generate(name, loaded, out / name, seed, overwrite, (), rank_device, {}, ranks)
            do_evaluate(out / name, loaded, evaluators, rank_device, overwrite == "always", ranks, options, at_once)
        if report and ranks.is_main:
            _write_report([out / name for name in models], out / "report")


def _write_report(run_dirs: Sequence[Path], out: Path, **options: object):
    from longvgenbench.report import write_report
    from longvgenbench.results import load_results

    files = write_report([load_results(d) for d in run_dirs], out, run_dirs=list(run_dirs),
                         **options)  # type: ignore[arg-type]
    for warning in files.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"report: {files.markdown} and {files.html}")
    return files


def _expand_runs(paths: Sequence[Path]) -> list[Path]:
    """Run directories, or roots whose subdirectories are run directories."""
    runs: list[Path] = []
    for path in paths:
        if (path / "results.json").exists():
            runs.append(path)
        else:
            found = sorted(p.parent for p in path.glob("*/results.json"))
            if not found:
                raise LongVGenBenchError(f"{path}: no results.json here or one level down; evaluate it first")
            runs.extend(found)
    return runs


@cli.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Report directory.")
@click.option("--contact-video", default=None, help="Video id for the contact sheet (default: the first).")
@click.option("--published/--no-published", default=True, show_default=True,
              help="Add the LongVie 2 paper's numbers as a separate block.")
def report_command(runs: tuple[Path, ...], out: Path, contact_video: str | None, published: bool) -> None:
    """Write a Markdown + standalone HTML report (tables with 95% intervals, metrics over time,
    per-category bars, a radar, a contact sheet) with metrics.csv and metrics.parquet.

    \b
    Example:
      longvgenbench report runs/demo --out runs/demo/report
    """
    _write_report(_expand_runs(runs), out, contact_video=contact_video, include_published=published)


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Report directory.")
@click.option("--contact-video", default=None, help="Video id for the contact sheet (default: the first).")
def compare_command(runs: tuple[Path, ...], out: Path, contact_video: str | None) -> None:
    """Paired differences of every run against the first (per video, 95% bootstrap over videos),
    in a full report (differences.csv/.parquet beside it). Runs must share a split.

    \b
    Example:
      longvgenbench compare runs/demo/static runs/demo/depth-warp --out runs/demo/compare
    """
    files = _write_report(_expand_runs(runs), out, contact_video=contact_video, paired=True)
    for line in files.differences_text:
        click.echo(line)
