"""Where the builder's long videos come from: a folder, a CSV/TXT list of paths, or a Hugging Face dataset.

Every source becomes a list of :class:`SourceVideo` records with a stable ``source_id`` (derived
from the file name, made unique), so a resumed build finds its finished work by the same ids and
the split's video ids say which file each one came from. Metadata a user can give per video
(category, licence, source URL) travels with the record into the dataset and its card.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from longvgenbench.errors import LongVGenBenchError
from longvgenbench.records import Category

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"})
DOMAINS = ("real", "game", "synthetic")
SETTINGS = ("indoor", "outdoor")
LIGHTINGS = ("day", "night")
DEFAULT_CATEGORY = Category(domain="real", setting="outdoor", lighting="day")
HUB_PREFIX = "hf://"


class SourceError(LongVGenBenchError):
    """A source (folder, list file, dataset) cannot be read or holds malformed metadata."""


@dataclass(frozen=True)
class SourceVideo:
    """One long input video and what the user told us about it."""

    source_id: str  # unique within a build; prefix of every video id cut from this source
    path: Path
    category: Category = DEFAULT_CATEGORY
    licence: str = ""
    url: str = ""

    def to_json(self) -> dict[str, str]:
        return {"source_id": self.source_id, "path": str(self.path), **self.category.as_dict(),
                "licence": self.licence, "url": self.url}


def slug(text: str) -> str:
    """A file-system and Hub-safe id: lower-case letters, digits, '-' and '_' only."""
    out = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return out or "video"


def _unique_ids(paths: list[Path]) -> list[str]:
    """Slugs of the file stems; a clash gets a short hash of the full path appended (stable across runs)."""
    stems = [slug(p.stem) for p in paths]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    return [s if counts[s] == 1 else f"{s}-{hashlib.sha256(str(p).encode()).hexdigest()[:8]}"
            for s, p in zip(stems, paths, strict=True)]


def _category(row: dict[str, str], where: str) -> Category:
    values = {"domain": (row.get("domain") or row.get("category") or DEFAULT_CATEGORY.domain).strip().lower(),
              "setting": (row.get("setting") or DEFAULT_CATEGORY.setting).strip().lower(),
              "lighting": (row.get("lighting") or DEFAULT_CATEGORY.lighting).strip().lower()}
    for field_name, allowed in (("domain", DOMAINS), ("setting", SETTINGS), ("lighting", LIGHTINGS)):
        if values[field_name] not in allowed:
            raise SourceError(f"{where}: {field_name} must be one of {', '.join(allowed)}, got {values[field_name]!r}")
    return Category(**values)


def from_folder(folder: Path) -> list[SourceVideo]:
    """Every video file directly in ``folder`` or below it, sorted by path (default category tags)."""
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not paths:
        raise SourceError(f"{folder}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in it")
    return [SourceVideo(sid, p) for sid, p in zip(_unique_ids(paths), paths, strict=True)]


def from_list(list_file: Path) -> list[SourceVideo]:
    """A ``.txt`` (one path a line, '#' comments) or ``.csv`` (column ``path``; optional ``domain``,
    ``setting``, ``lighting``, ``licence``, ``url``) list; relative paths are relative to the list file."""
    base = list_file.parent
    rows: list[dict[str, str]] = []
    try:
        if list_file.suffix.lower() == ".csv":
            with open(list_file, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                if reader.fieldnames is None or "path" not in reader.fieldnames:
                    raise SourceError(f"{list_file}: a CSV source needs a 'path' column, has {reader.fieldnames}")
                rows = [dict(r) for r in reader]
        else:
            for line in list_file.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    rows.append({"path": line})
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"{list_file}: unreadable list file ({exc})") from exc
    if not rows:
        raise SourceError(f"{list_file}: lists no videos")
    paths = []
    for row in rows:
        raw = (row.get("path") or "").strip()
        if not raw:
            raise SourceError(f"{list_file}: a row has an empty path")
        path = Path(raw).expanduser()
        paths.append(path if path.is_absolute() else (base / path))
    ids = _unique_ids(paths)
    return [SourceVideo(sid, path, _category(row, f"{list_file} ({path.name})"),
                        licence=(row.get("licence") or row.get("license") or "").strip(),
                        url=(row.get("url") or "").strip())
            for sid, path, row in zip(ids, paths, rows, strict=True)]


def from_dataset(spec: str, video_column: str = "video", cache: Path | None = None) -> list[SourceVideo]:
    """A Hugging Face dataset of videos: ``hf://owner/name[:split]`` (Hub) or a ``save_to_disk`` folder.

    The ``video_column`` holds a path, or bytes (written once into ``cache``); the metadata columns
    of :func:`from_list` are read where present.
    """
    import datasets

    try:
        if spec.startswith(HUB_PREFIX):
            name, _, split = spec[len(HUB_PREFIX):].partition(":")
            table = datasets.load_dataset(name, split=split or "train")
        else:
            table = datasets.load_from_disk(spec)
            if isinstance(table, datasets.DatasetDict):
                table = table["train"] if "train" in table else next(iter(table.values()))
    except Exception as exc:  # datasets raises many types (offline, missing, malformed): one clear message
        raise SourceError(f"{spec}: cannot load the dataset of videos ({type(exc).__name__}: {exc}); offline? "
                          f"set LONGVGENBENCH_ONLINE=1 for the Hub, or pass a folder of videos") from exc
    if video_column not in table.column_names:
        raise SourceError(f"{spec}: no column {video_column!r} (columns: {table.column_names}); "
                          f"pass --video-column")
    feature = table.features[video_column]
    if type(feature).__name__ == "Video":  # undecoded: {"path", "bytes"} instead of a decoder object
        table = table.cast_column(video_column, type(feature)(decode=False))
    rows = table.to_list()
    paths = []
    for index, row in enumerate(rows):
        value = row[video_column]
        if isinstance(value, dict):  # datasets' Video/Image-like feature: {"path": ..., "bytes": ...}
            value = value.get("bytes") or value.get("path")
        if isinstance(value, bytes | bytearray):
            if cache is None:
                raise SourceError(f"{spec}: row {index} holds video bytes but no cache folder was given")
            digest = hashlib.sha256(value).hexdigest()[:16]
            path = cache / f"row{index:05d}-{digest}.mp4"
            if not path.exists():
                from longvgenbench.atomic import write_bytes

                write_bytes(path, bytes(value))
            paths.append(path)
        elif isinstance(value, str) and value:
            paths.append(Path(value).expanduser())
        else:
            raise SourceError(f"{spec}: row {index} has no video in column {video_column!r}")
    ids = _unique_ids(paths)
    return [SourceVideo(sid, path, _category({k: str(v) for k, v in row.items() if isinstance(v, str)},
                                             f"{spec} row {i}"),
                        licence=str(row.get("licence") or row.get("license") or ""), url=str(row.get("url") or ""))
            for i, (sid, path, row) in enumerate(zip(ids, paths, rows, strict=True))]


def collect_sources(spec: str | Path, video_column: str = "video", cache: Path | None = None) -> list[SourceVideo]:
    """Resolve a SOURCE argument: folder of videos, saved dataset folder, .csv/.txt list, single file, hf://."""
    text = str(spec)
    if text.startswith(HUB_PREFIX):
        return from_dataset(text, video_column, cache)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return from_dataset(str(path), video_column, cache)
        return from_folder(path)
    if path.is_file():
        if path.suffix.lower() in (".csv", ".txt"):
            return from_list(path)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return [SourceVideo(slug(path.stem), path)]
        raise SourceError(f"{path}: not a folder, a .csv/.txt list or a video file")
    raise SourceError(f"{path}: no such file or folder (for a Hub dataset write {HUB_PREFIX}owner/name)")
