"""The ``submit`` and ``leaderboard`` commands, plugged into ``longvgenbench`` via the
``longvgenbench.cli`` entry-point group. Web dependencies (starlette, uvicorn) are imported only
by ``leaderboard serve``, so ``submit`` and ``build`` work without them.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

from leaderboard.schema import SplitDefinition, SubmissionDocument, document_from_run, strict_json
from leaderboard.validation import Limits, Verdict, installed_evaluators, validate
from longvgenbench import atomic
from longvgenbench.errors import LongVGenBenchError

DEFAULT_DB = "leaderboard.sqlite"
ADMIN_TOKEN_ENV = "LONGVGENBENCH_ADMIN_TOKEN"


def _store(db: str):
    from leaderboard.store import Store, default_url

    return Store(db if "://" in db else default_url(db))


def _split_definition(split: str) -> SplitDefinition:
    """A split definition from a definition JSON file, or from a split (directory or registered name)."""
    path = Path(split)
    if path.is_file() and path.suffix == ".json":
        return SplitDefinition.from_json(strict_json(path.read_bytes(), str(path)))
    from longvgenbench.splits.api import load_split

    return SplitDefinition.from_split(load_split(split, verify=False))


def _print_verdict(verdict: Verdict) -> None:
    if verdict.accepted:
        click.echo(verdict.summary())
        return
    click.echo(f"rejected: {verdict.model or '?'} on {verdict.split or '?'}", err=True)
    for p in verdict.problems:
        click.echo(f"  [{p.code}] {p.field}: {p.message}", err=True)


def _post(url: str, doc: SubmissionDocument, timeout: float) -> tuple[int, dict]:
    endpoint = url.rstrip("/") + "/api/submissions"
    request = urllib.request.Request(endpoint, data=doc.to_json().encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            raise LongVGenBenchError(f"{endpoint} answered {exc.code}: {body[:200]!r}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise LongVGenBenchError(f"cannot reach {endpoint}: {exc}") from exc


@click.command("submit")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--to", "target", required=True, help="Leaderboard URL (http[s]://...) or a directory to drop it in.")
@click.option("--split", default=None, help="Validate locally against this split first (directory or name).")
@click.option("--video-hashes/--no-video-hashes", default=True, show_default=True,
              help="Include the sha256 of every generated video.mp4.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for the server.")
def submit_command(run_dir: Path, target: str, split: str | None, video_hashes: bool, timeout: float) -> None:
    """Submit RUN_DIR's results.json and samples.jsonl to a leaderboard.

    \b
    Examples:
      longvgenbench submit runs/demo/oracle --to https://leaderboard.example.org
      longvgenbench submit runs/demo/oracle --to submissions/ --split splits/mini
    """
    doc = document_from_run(run_dir, include_video_hashes=video_hashes)
    if split is not None:
        definition = _split_definition(split)
        verdict = validate(doc, {definition.manifest_sha256: definition}, installed_evaluators())
        _print_verdict(verdict)
        if not verdict.accepted:
            sys.exit(2)
    if target.startswith(("http://", "https://")):
        status, answer = _post(target, doc, timeout)
        if answer.get("accepted"):
            state = "stored" if answer.get("created") else "already stored"
            click.echo(f"accepted ({state}): id {answer.get('id')} status {answer.get('status')}")
            return
        click.echo(f"rejected by {target} (HTTP {status}):", err=True)
        for p in answer.get("problems", []):
            click.echo(f"  [{p.get('code')}] {p.get('field')}: {p.get('message')}", err=True)
        sys.exit(2)
    out = Path(target) / f"{doc.content_sha256()[:16]}.submission.json"
    atomic.write_text(out, doc.to_json())
    click.echo(f"submission written to {out}")


@click.group("leaderboard")
def leaderboard_group() -> None:
    """Run, fill and publish the leaderboard."""


@leaderboard_group.command("serve")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite file or any SQLAlchemy URL.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--split", "split_sources", multiple=True,
              help="Register a split at start (directory, registered name or definition .json; repeatable).")
@click.option("--max-mb", type=float, default=64.0, show_default=True, help="Largest accepted submission (MiB).")
def serve_command(db: str, host: str, port: int, split_sources: tuple[str, ...], max_mb: float) -> None:
    """Serve the leaderboard (upload form, JSON API, table, model pages).

    The admin token comes from the environment variable LONGVGENBENCH_ADMIN_TOKEN (no token: admin
    actions are disabled).

    \b
    Example:
      LONGVGENBENCH_ADMIN_TOKEN=$(openssl rand -hex 24) \\
        longvgenbench leaderboard serve --db lb.sqlite --split splits/mini --port 8000
    """
    try:
        import uvicorn

        from leaderboard.server import create_app
    except ImportError as exc:
        raise LongVGenBenchError(f"the server needs the leaderboard extra: pip install 'longvgenbench[leaderboard]' "
                                 f"({exc})") from exc
    store = _store(db)
    for source in split_sources:
        store.add_split(_split_definition(source))
    app = create_app(store, admin_token=os.environ.get(ADMIN_TOKEN_ENV), limits=Limits(max_bytes=int(max_mb * 2**20)))
    click.echo(f"leaderboard on http://{host}:{port} ({store.count()} submissions, {len(store.splits())} splits)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@leaderboard_group.command("build")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite file or any SQLAlchemy URL.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the static site.")
@click.option("--rank-by", default=None, help="Metric that sets the rank column (default: the first).")
def build_command(db: str, out: Path, rank_by: str | None) -> None:
    """Write the leaderboard as a static site (GitHub Pages, a Hugging Face Space).

    \b
    Example:
      longvgenbench leaderboard build --db lb.sqlite --out site/
    """
    from leaderboard.site import build_site

    files = build_site(_store(db), out, rank_by=rank_by, progress=True)
    click.echo(f"site written to {files.index.parent} ({len(files.model_pages)} model pages)")


@leaderboard_group.command("add-split")
@click.argument("split")
@click.option("--db", default=DEFAULT_DB, show_default=True, help="SQLite file or any SQLAlchemy URL.")
def add_split_command(split: str, db: str) -> None:
    """Register SPLIT (directory, registered name or definition .json) so submissions on it validate.

    \b
    Example:
      longvgenbench leaderboard add-split splits/mini --db lb.sqlite
    """
    definition = _split_definition(split)
    _store(db).add_split(definition)
    click.echo(f"registered {definition.name} ({len(definition.videos)} videos, "
               f"manifest {definition.manifest_sha256[:16]})")


@leaderboard_group.command("export-split")
@click.argument("split")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Definition JSON to write.")
def export_split_command(split: str, out: Path) -> None:
    """Write the small definition of SPLIT (ids, categories, clip counts, grid) a server needs.

    \b
    Example:
      longvgenbench leaderboard export-split splits/mini --out mini.split.json
    """
    atomic.write_text(out, json.dumps(_split_definition(split).to_json(), indent=1, sort_keys=True))
    click.echo(f"split definition written to {out}")


@leaderboard_group.command("validate")
@click.argument("submission", type=click.Path(path_type=Path, exists=True))
@click.option("--split", required=True, help="Split to check against (directory, name or definition .json).")
def validate_command(submission: Path, split: str) -> None:
    """Validate a run directory or a submission document exactly as the server would (for CI).

    Exit code 0 if accepted, 2 if rejected (every problem is printed).

    \b
    Example:
      longvgenbench leaderboard validate runs/demo/oracle --split splits/mini
    """
    from leaderboard.schema import parse_document

    if submission.is_dir():
        doc = document_from_run(submission)
    else:
        doc = parse_document(submission.read_bytes(), Limits().max_bytes)
    definition = _split_definition(split)
    verdict = validate(doc, {definition.manifest_sha256: definition}, installed_evaluators())
    _print_verdict(verdict)
    if not verdict.accepted:
        sys.exit(2)
