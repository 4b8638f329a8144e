"""The ``longvgenbench`` command line. Logging is configured here and nowhere else.

Every expected failure (a bad file, an unknown name, a run made with other settings) ends
with one ``error:`` line and exit code 2; Ctrl-C ends with exit code 130 and keeps every
finished segment and score, so the same command resumes.
"""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: offline by default, so a missing file fails at once
# instead of after tens of seconds of retries. LONGVGENBENCH_ONLINE=1 lets the Hub be reached.
if os.environ.get("LONGVGENBENCH_ONLINE") != "1":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

import logging
import sys
from pathlib import Path

import click

from longvgenbench import registry
from longvgenbench.errors import LongVGenBenchError

log = logging.getLogger("longvgenbench")


def _parse_value(raw: str) -> object:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            continue
    return raw


def _parse_params(pairs: tuple[str, ...]) -> dict[str, object]:
    """``key=value`` pairs; values become int, float or bool where they look like one, and
    comma-separated values become tuples (``track_grid=20,20``)."""
    params: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not key=value")
        key, raw = pair.split("=", 1)
        value = tuple(_parse_value(v) for v in raw.split(",")) if "," in raw else _parse_value(raw)
        params[key.replace("-", "_")] = value
    return params


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (INFO level).")
def cli(verbose: bool) -> None:
    """Benchmark long, controllable video generation on LongVGenBench splits.

    \b
    The whole offline job, end to end (no weights needed):
      longvgenbench run --split synthetic-mini --model static --model oracle \\
          --model depth-warp --out runs/demo
    Then open runs/demo/report/report.html.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.command("ls")
@click.argument("kind", type=click.Choice(["models", "evaluators", "splits"]))
def ls_command(kind: str) -> None:
    """List registered models, evaluators or split sources.

    \b
    Example:
      longvgenbench ls evaluators
    """
    group = {"models": registry.MODELS, "evaluators": registry.EVALUATORS, "splits": registry.SPLITS}[kind]
    for name in registry.names(group):
        try:
            obj = registry.load(group, name)
            doc = (obj.__doc__ or getattr(obj, "description", "") or "").strip().splitlines()
            summary = getattr(obj, "description", None) or (doc[0] if doc else "")
        except Exception as exc:  # a broken plug-in must not hide the others
            summary = f"(cannot be loaded: {exc})"
        click.echo(f"{name:24s} {summary}")


@cli.group("splits")
def splits_group() -> None:
    """Make and check splits."""


@splits_group.command("make")
@click.argument("source")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory to write the split into.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generator (same seed, same files).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Generator parameter, e.g. -p num_videos=4 -p seconds=30 -p height=240 -p width=416.")
def splits_make(source: str, out: Path, seed: int, params: tuple[str, ...]) -> None:
    """Make a split from a registered SOURCE (see `longvgenbench ls splits`).

    \b
    Examples:
      longvgenbench splits make synthetic-mini --out splits/mini
      longvgenbench splits make synthetic --out splits/synthetic -p num_videos=100
    """
    maker = registry.load(registry.SPLITS, source)
    path = maker.make(out, seed=seed, progress=True, **_parse_params(params))
    click.echo(f"split written to {path}")


@splits_group.command("verify")
@click.argument("split")
def splits_verify(split: str) -> None:
    """Check every file of SPLIT against its manifest (sha256).

    \b
    Example:
      longvgenbench splits verify splits/mini
    """
    from longvgenbench.splits.api import load_split

    loaded = load_split(split, verify=True)
    click.echo(f"{loaded.name}: {len(loaded.samples)} videos, "
               f"{sum(len(s.segments) for s in loaded.samples)} clips, manifest {loaded.manifest_sha256[:16]}: OK")


import longvgenbench.cli_build  # noqa: E402,F401  (register the build command)
from longvgenbench import cli_run, cli_weights  # noqa: E402,F401  (register their commands)

PLUGIN_COMMANDS = "longvgenbench.cli"


def _add_plugin_commands() -> None:
    """Commands that plug-in packages own (e.g. `leaderboard`, `train`), from entry points."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_COMMANDS):
        if ep.name in cli.commands:
            continue
        try:
            cli.add_command(ep.load(), ep.name)
        except Exception as exc:  # a broken plug-in must not take the whole CLI down
            log.warning("plug-in command %s cannot be loaded: %s", ep.name, exc)


_add_plugin_commands()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted: finished segments and scores are kept; run the same command again to resume.",
                   err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted: finished segments and scores are kept; run the same command again to resume.",
                   err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except LongVGenBenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
