"""Real submissions for the leaderboard and compare tests, made once per test process.

The real pipeline (synthetic-mini split, static and oracle models, every evaluator) runs once
into a temporary directory; tests then take the documents and corrupt copies of them. Also a
uvicorn server in a background thread on 127.0.0.1, for tests that need real HTTP.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

TINY = ["-p", "num_videos=2", "-p", "num_clips=2", "-p", "height=64", "-p", "width=112", "-p", "track_grid=8,8"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "longvgenbench", *args], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


@dataclass(frozen=True)
class RealRuns:
    split: Path
    runs: Path  # runs/static, runs/oracle

    def run(self, model: str) -> Path:
        return self.runs / model


@functools.cache
def real_runs() -> RealRuns:
    root = Path(tempfile.mkdtemp(prefix="lvgb-leaderboard-"))
    atexit.register(shutil.rmtree, root, True)
    split = root / "split"
    cli("splits", "make", "synthetic-mini", "--out", str(split), *TINY)
    cli("run", "--split", str(split), "--model", "static", "--model", "oracle", "--out", str(root / "runs"),
        "--no-report")
    return RealRuns(split=split, runs=root / "runs")


@functools.cache
def split_definition():
    from leaderboard.schema import SplitDefinition
    from longvgenbench.splits.api import load_split

    return SplitDefinition.from_split(load_split(real_runs().split, verify=False))


@functools.cache
def evaluators():
    from leaderboard.validation import installed_evaluators

    return installed_evaluators()


def document(model: str = "static"):
    from leaderboard.schema import document_from_run

    return document_from_run(real_runs().run(model))


def edit(doc, results: Callable[[dict], None] | None = None, rows: Callable[[list[dict]], list[dict]] | None = None):
    """A copy of ``doc`` with results.json and/or the rows changed by the given functions."""
    data = json.loads(doc.results_json)
    if results is not None:
        results(data)
    lines = [json.loads(line) for line in doc.samples_jsonl.splitlines() if line.strip()]
    if rows is not None:
        lines = rows(lines)
    samples = "".join(json.dumps(r, sort_keys=True) + "\n" for r in lines)
    return replace(doc, results_json=json.dumps(data, sort_keys=True), samples_jsonl=samples)


def renamed(doc, model: str):
    """The same submission under another model name (still valid: names are not in the aggregates)."""
    def results(d: dict) -> None:
        d["model"] = model

    def rows(rs: list[dict]) -> list[dict]:
        return [r | {"model": model} for r in rs]

    return edit(doc, results, rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1 in a daemon thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
