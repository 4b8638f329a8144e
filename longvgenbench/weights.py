"""The weights registry: every weight file a plug-in may load, where it comes from, how to check it.

Each plug-in package declares its files as :class:`WeightFile` records and lists them under the
entry-point group ``longvgenbench.weights`` (an entry point names a tuple of records). A file is
looked for, in order, in ``$LONGVGENBENCH_CACHE/weights``, a VBench cache (``$VBENCH_CACHE_DIR``
or ``~/.cache/vbench``), torch hub's checkpoint cache and the Hugging Face cache, so nobody
downloads the same file twice. A missing file raises ``WeightsUnavailableError`` naming the file,
where it was looked for and the command that fetches it; a file with the wrong sha256 is refused
by name. Nothing is ever downloaded except by ``fetch`` (``longvgenbench weights fetch``).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from longvgenbench import atomic
from longvgenbench.errors import LongVGenBenchError, UnknownNameError, WeightsUnavailableError
from longvgenbench.paths import cache_dir
from longvgenbench.provenance import sha256_file

WEIGHTS_GROUP = "longvgenbench.weights"


class WeightsMismatchError(LongVGenBenchError):
    """A weight file is present but its sha256 is not the registered one."""


@dataclass(frozen=True)
class HubSource:
    """A file in a Hugging Face repository at a pinned revision (a commit hash, never a branch)."""

    repo_id: str
    path: str
    revision: str

    def describe(self) -> str:
        return f"hf://{self.repo_id}@{self.revision}/{self.path}"


@dataclass(frozen=True)
class UrlSource:
    url: str

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class WeightFile:
    """One weight file. ``sha256`` / ``size`` are None only where no public record of them exists;
    such files are reported as unpinned and never silently trusted for results."""

    key: str
    filename: str
    source: HubSource | UrlSource
    licence: str
    description: str
    sha256: str | None = None
    size: int | None = None
    vbench_subpath: str | None = None  # where VBench's own cache keeps it, relative to the cache root
    torch_hub: bool = False  # torch hub keeps it as checkpoints/<filename>


def catalogue() -> dict[str, WeightFile]:
    """Every registered weight file by key (from all installed plug-ins)."""
    files: dict[str, WeightFile] = {}
    for ep in entry_points(group=WEIGHTS_GROUP):
        for item in ep.load():
            if item.key in files and files[item.key] != item:
                raise LongVGenBenchError(f"weight key {item.key!r} is registered twice with different records")
            files[item.key] = item
    return files


def get(key: str) -> WeightFile:
    files = catalogue()
    if key not in files:
        raise UnknownNameError("weight file", key, list(files))
    return files[key]


def own_cache() -> Path:
    return cache_dir() / "weights"


def vbench_cache() -> Path:
    env = os.environ.get("VBENCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vbench"


def candidates(item: WeightFile) -> list[Path]:
    """Where ``item`` is looked for, in order."""
    paths = [own_cache() / item.filename]
    if item.vbench_subpath:
        paths.append(vbench_cache() / item.vbench_subpath)
    if item.torch_hub:
        import torch.hub

        paths.append(Path(torch.hub.get_dir()) / "checkpoints" / item.filename)
    if isinstance(item.source, HubSource):
        paths.append(_hf_cache_path(item.source))
    return paths


def _hf_cache_path(source: HubSource) -> Path:
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface")), "hub")
    folder = "models--" + source.repo_id.replace("/", "--")
    return Path(hub) / folder / "snapshots" / source.revision / source.path


def locate(item: WeightFile) -> Path | None:
    for path in candidates(item):
        if path.is_file():
            return path
    return None


def how_to_get(item: WeightFile) -> str:
    return (f"run `longvgenbench weights fetch {item.key}` on a machine with network (source: "
            f"{item.source.describe()}, licence: {item.licence}), or copy {item.filename} into {own_cache()}")


def _hash_cached(path: Path) -> str:
    """sha256 of a (possibly multi-GB) file, remembered beside our cache by path, size and mtime."""
    stat = path.stat()
    memo_path = own_cache() / ".sha256-memo.json"
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, json.JSONDecodeError):
        memo = {}
    if key not in memo:
        memo[key] = sha256_file(path)
        with contextlib.suppress(LongVGenBenchError):  # a read-only cache only costs a re-hash next time
            atomic.write_json(memo_path, memo)
    return memo[key]


def verify(item: WeightFile, path: Path) -> str:
    """The file's sha256; raises ``WeightsMismatchError`` if a pinned hash or size differs."""
    if item.size is not None and path.stat().st_size != item.size:
        raise WeightsMismatchError(f"{path} has {path.stat().st_size} bytes, {item.key} must have {item.size}: "
                                   f"a different or truncated file; {how_to_get(item)}")
    digest = _hash_cached(path)
    if item.sha256 is not None and digest != item.sha256:
        raise WeightsMismatchError(f"{path} has sha256 {digest[:16]}..., {item.key} must have "
                                   f"{item.sha256[:16]}...: refusing a different file; {how_to_get(item)}")
    return digest


def require(item: WeightFile, check: bool = True) -> Path:
    """The local path of ``item`` (verified), or ``WeightsUnavailableError`` saying how to get it."""
    path = locate(item)
    if path is None:
        looked = ", ".join(str(p) for p in candidates(item))
        raise WeightsUnavailableError(f"{item.description} ({item.filename})", None,
                                      f"not found in {looked}; {how_to_get(item)}")
    if check:
        verify(item, path)
    return path


def fetch(item: WeightFile) -> Path:
    """Download ``item`` into our cache (pinned revision), then verify it. Needs network."""
    existing = locate(item)
    if existing is not None:
        verify(item, existing)
        return existing
    target = own_cache() / item.filename
    try:
        if isinstance(item.source, HubSource):
            if os.environ.get("HF_HUB_OFFLINE") == "1" and os.environ.get("LONGVGENBENCH_ONLINE") != "1":
                raise OSError("HF_HUB_OFFLINE=1 (set LONGVGENBENCH_ONLINE=1 to allow the Hub)")
            from huggingface_hub import hf_hub_download

            downloaded = Path(hf_hub_download(item.source.repo_id, item.source.path,
                                              revision=item.source.revision))
            with atomic.atomic_path(target) as tmp:
                tmp.write_bytes(downloaded.read_bytes())
        else:
            with (atomic.atomic_path(target) as tmp, urllib.request.urlopen(item.source.url, timeout=30) as response,
                  open(tmp, "wb") as handle):
                while block := response.read(1 << 20):
                    handle.write(block)
    except (OSError, ValueError) as exc:
        raise WeightsUnavailableError(f"{item.description} ({item.filename})", target,
                                      f"download from {item.source.describe()} failed ({exc}); "
                                      f"copy the file there by hand") from exc
    verify(item, target)
    return target
