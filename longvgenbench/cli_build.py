"""``longvgenbench build``: turn long videos into a LongVGenBench-protocol split."""

from __future__ import annotations

from pathlib import Path

import click

from longvgenbench.cli import _parse_params, cli


@cli.command("build")
@click.argument("source")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Split directory to write (resumable).")
@click.option("--name", default=None, help="Split name (default: the --out folder's name).")
@click.option("--depth", default="none", show_default=True,
              help="Depth estimator name, or none (no learned depth here: tracks then get B = 0, no camera).")
@click.option("--tracks", default="flow", show_default=True, help="Track estimator: flow (always available), "
              "another registered name, or none.")
@click.option("--captions", default="none", show_default=True,
              help="none, a CSV/JSON file (video_id, clip_index, caption), or a caption estimator name.")
@click.option("--camera", default="none", show_default=True, help="none or estimate (needs depth and tracks).")
@click.option("--min-seconds", type=float, default=60.0, show_default=True,
              help="Shortest single-shot stretch kept as a video.")
@click.option("--max-seconds", type=float, default=None, help="Cut longer shots into several videos of this length.")
@click.option("--threshold", type=float, default=35.0, show_default=True, help="ContentDetector threshold.")
@click.option("--portrait", type=click.Choice(["reject", "crop"]), default="reject", show_default=True,
              help="Portrait videos: reject, or center-crop them (keeps about a third of each frame).")
@click.option("--height", type=int, default=480, show_default=True, help="Grid height.")
@click.option("--width", type=int, default=832, show_default=True, help="Grid width.")
@click.option("--track-grid", default="50,50", show_default=True, help="Query points per clip: ROWS,COLS.")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes for CPU stages.")
@click.option("--video-column", default="video", show_default=True, help="Column of a dataset source with videos.")
@click.option("-e", "--estimator-option", "estimator_options", multiple=True, metavar="KIND.KEY=VALUE",
              help="Option of an estimator, e.g. -e tracks.preset=fast -e camera.hfov_degrees=70.")
@click.option("--push-to-hub", "push_to_hub", default=None, metavar="REPO",
              help="Publish the finished split as a Hub dataset (needs LONGVGENBENCH_ONLINE=1 and a login).")
def build_command(source: str, out: Path, name: str | None, depth: str, tracks: str, captions: str, camera: str,
                  min_seconds: float, max_seconds: float | None, threshold: float, portrait: str, height: int,
                  width: int, track_grid: str, workers: int, video_column: str, estimator_options: tuple[str, ...],
                  push_to_hub: str | None) -> None:
    """Build a split from SOURCE: a folder of videos, a .csv/.txt list of paths (CSV columns: path, domain,
    setting, lighting, licence, url), a saved Hugging Face dataset folder, or hf://owner/name[:split].

    \b
    Shots (PySceneDetect) -> single-shot stretches >= --min-seconds -> 16 fps, center crop to 480x832
    -> 81-frame clips, stride 80 -> controls per clip. Missing estimator weights are reported before
    any work starts. Killed builds resume with the same command. A report is printed and written
    to OUT/.build/report.json.
    \b
    Examples:
      longvgenbench build ~/footage --out splits/mine
      longvgenbench build list.csv --out splits/mine --depth depth-anything-v2 --camera estimate
      longvgenbench build ~/footage --out splits/short --min-seconds 10 --tracks flow -e tracks.preset=fast
    """
    from longvgenbench.build.cutting import CutSettings
    from longvgenbench.build.hub import push_split, require_online
    from longvgenbench.build.pipeline import BuildSettings, build, build_choice
    from longvgenbench.build.video_controls import ControlSettings
    from longvgenbench.records import Grid

    if push_to_hub:
        require_online(f"push to {push_to_hub}")  # before hours of work, not after
    options: dict[str, dict[str, object]] = {}
    for key, value in _parse_params(estimator_options).items():
        kind, _, option = key.partition(".")
        if kind not in ("depth", "tracks", "captions", "camera") or not option:
            raise click.BadParameter(f"{key!r}: write KIND.KEY=VALUE with KIND depth, tracks, captions or camera")
        options.setdefault(kind, {})[option] = value
    try:
        rows, cols = (int(v) for v in track_grid.split(","))
    except ValueError as exc:
        raise click.BadParameter(f"--track-grid {track_grid!r}: write ROWS,COLS") from exc
    if height % 2 or width % 2 or height < 16 or width < 16:
        raise click.BadParameter(f"--height/--width must be even and >= 16 (H.264), got {height}x{width}")
    grid = Grid(height=height, width=width)
    controls = ControlSettings(grid=grid, depth=build_choice("depth", depth, options.get("depth")),
                               tracks=build_choice("tracks", tracks, options.get("tracks")),
                               camera=build_choice("camera", camera, options.get("camera")),
                               captions=build_choice("captions", captions, options.get("captions")),
                               track_grid=(rows, cols))
    settings = BuildSettings(name=name or Path(out).resolve().name,
                             cut=CutSettings(grid=grid, threshold=threshold, min_seconds=min_seconds,
                                             max_seconds=max_seconds, portrait=portrait),
                             controls=controls, workers=max(1, workers), video_column=video_column)
    report = build(source, out, settings, progress=True)
    click.echo(report.summary())
    click.echo(f"split written to {out} (report: {Path(out) / '.build' / 'report.json'})")
    if push_to_hub:
        click.echo(f"pushed: {push_split(Path(out), push_to_hub)}")
