"""Split sources and ``load_split``: one call from a name or a path to a verified :class:`Split`.

A *source* knows how to make a split directory (the synthetic generator; later, builders over
real videos). ``load_split`` accepts a split directory, a folder in upstream LongVie's layout, or
a registered source's name; a name is materialised once into the cache (deterministically, seed
0) and read from there afterwards.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

from longvgenbench import paths
from longvgenbench.errors import SplitError
from longvgenbench.records import Split
from longvgenbench.registry import SPLITS, load
from longvgenbench.splits.folder import is_longvie_folder, read_longvie_folder
from longvgenbench.splits.reader import read_split
from longvgenbench.splits.store import MANIFEST_JSON, SPLIT_JSON


class SplitSource(abc.ABC):
    """Something that makes a split directory; registered under ``longvgenbench.splits``.

    ``version`` must change whenever the same parameters could give different files, since the
    cache is keyed by it.
    """

    name: str
    description: str
    version: ClassVar[str]

    @abc.abstractmethod
    def make(self, out: Path, *, seed: int = 0, progress: bool = True, **params: Any) -> Path:
        """Write the split into ``out`` (resumable: finished videos are kept) and return ``out``."""


def cached_split_dir(source: SplitSource, cache: Path | None = None) -> Path:
    """Where ``load_split`` materialises a registered source: ``<cache>/splits/<name>-seed0-v<version>``."""
    return (cache if cache is not None else paths.cache_dir()) / "splits" / f"{source.name}-seed0-v{source.version}"


def _looks_like_path(value: str | Path) -> bool:
    text = str(value)
    return isinstance(value, Path) or "/" in text or "\\" in text or text.startswith(".") or text.startswith("~")


HUB_PREFIX = "hf://"


def _download_hub_split(url: str) -> Path:
    """``hf://owner/name[@revision]`` -> a local copy of that published split (the builder's ``download_split``)."""
    from longvgenbench.build.hub import download_split  # lazy: build imports splits

    repo_id, _, revision = url[len(HUB_PREFIX):].partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")) or (_ and not revision):
        raise SplitError(f"{url}: a Hub split is hf://owner/name or hf://owner/name@revision")
    return download_split(repo_id, revision=revision or None)


def load_split(name_or_path: str | Path, *, verify: bool = True, cache: Path | None = None,
               progress: bool = False) -> Split:
    """A split from a directory path, an upstream-LongVie folder, or a registered split name.

    - a directory with ``split.json`` -> :func:`read_split` (sha256 of every file checked with ``verify``);
    - a directory with ``cond.json`` (or subfolders with one) -> :func:`read_longvie_folder`;
    - a registered name (e.g. ``synthetic-mini``) -> made into the cache on first use, then read;
    - ``hf://owner/name[@revision]`` -> a split published with ``longvgenbench build --push-to-hub``, downloaded.
    Unknown names raise :class:`~longvgenbench.errors.UnknownNameError` with close matches.
    """
    if str(name_or_path).startswith(HUB_PREFIX):
        return read_split(_download_hub_split(str(name_or_path)), verify=verify)
    candidate = Path(name_or_path).expanduser()
    if candidate.is_dir():
        if (candidate / SPLIT_JSON).is_file():
            return read_split(candidate, verify=verify)
        if is_longvie_folder(candidate):
            return read_longvie_folder(candidate, verify=verify)
        raise SplitError(f"{candidate}: neither a split directory (no {SPLIT_JSON}) nor a LongVie folder (no "
                         f"cond.json in it or its subfolders)")
    if _looks_like_path(name_or_path):
        raise SplitError(f"{candidate}: no such directory")
    source = load(SPLITS, str(name_or_path))
    target = cached_split_dir(source, cache)
    if not (target / MANIFEST_JSON).is_file():
        source.make(target, seed=0, progress=progress)
    return read_split(target, verify=verify)
