"""``longvgenbench weights``: list, fetch, verify and locate registered weight files."""

from __future__ import annotations

import click

from longvgenbench import weights
from longvgenbench.cli import cli
from longvgenbench.errors import LongVGenBenchError


@cli.group("weights")
def weights_group() -> None:
    """Weight files of models and metrics: where they come from, whether they are here.

    \b
    Files are looked for in $LONGVGENBENCH_CACHE/weights, the VBench cache, torch hub's cache
    and the Hugging Face cache; nothing is downloaded except by `fetch`.
    """


@weights_group.command("ls")
def weights_ls() -> None:
    """List every registered weight file and whether it is on this machine.

    \b
    Example:
      longvgenbench weights ls
    """
    files = weights.catalogue()
    if not files:
        click.echo("no weight files are registered")
    for key, item in sorted(files.items()):
        path = weights.locate(item)
        pinned = item.sha256[:12] if item.sha256 else "sha256 not pinned"
        where = str(path) if path is not None else "missing"
        click.echo(f"{key:28s} {item.filename:40s} {pinned:18s} {item.licence:14s} {where}")


@weights_group.command("path")
@click.argument("key")
def weights_path(key: str) -> None:
    """Print where KEY's file is (verified), or why it is unavailable.

    \b
    Example:
      longvgenbench weights path dino_vitb16
    """
    click.echo(str(weights.require(weights.get(key))))


@weights_group.command("verify")
@click.argument("keys", nargs=-1)
def weights_verify(keys: tuple[str, ...]) -> None:
    """Check the sha256 of KEYS (default: every file present).

    \b
    Example:
      longvgenbench weights verify
    """
    files = weights.catalogue()
    chosen = [weights.get(k) for k in keys] if keys else list(files.values())
    bad = 0
    for item in chosen:
        path = weights.locate(item)
        if path is None:
            if keys:
                click.echo(f"{item.key}: missing ({weights.how_to_get(item)})")
                bad += 1
            continue
        try:
            digest = weights.verify(item, path)
        except weights.WeightsMismatchError as exc:
            click.echo(f"{item.key}: MISMATCH {exc}")
            bad += 1
            continue
        state = "OK" if item.sha256 else "present (sha256 not pinned: cannot verify)"
        click.echo(f"{item.key}: {state} {digest[:16]} {path}")
    if bad:
        raise LongVGenBenchError(f"{bad} weight file(s) missing or mismatched")


@weights_group.command("fetch")
@click.argument("keys", nargs=-1, required=True)
def weights_fetch(keys: tuple[str, ...]) -> None:
    """Download KEYS into $LONGVGENBENCH_CACHE/weights (needs network) and verify them.

    \b
    Example (on a machine with network):
      LONGVGENBENCH_ONLINE=1 longvgenbench weights fetch dino_vitb16 raft_things
    """
    for key in keys:
        click.echo(f"{key}: {weights.fetch(weights.get(key))}")
