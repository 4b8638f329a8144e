"""Where longvgenbench keeps things on disk by default."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$LONGVGENBENCH_CACHE``, else ``~/.cache/longvgenbench`` (splits, weights)."""
    env = os.environ.get("LONGVGENBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "longvgenbench"
