"""Publishing a built split on the Hugging Face Hub, and fetching one back.

The whole split directory is uploaded as a dataset repository (the card is its README.md), except
the builder's work folder ``.build/``. Offline (``HF_HUB_OFFLINE=1``, the CLI's default) both
directions fail at once with a message saying how to allow the Hub.
"""

from __future__ import annotations

import os
from pathlib import Path

from longvgenbench.errors import LongVGenBenchError
from longvgenbench.splits.store import MANIFEST_JSON


class HubError(LongVGenBenchError):
    """The Hub cannot be reached, or refused the upload or download."""


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def require_online(what: str) -> None:
    if hub_offline():
        raise HubError(f"cannot {what}: the Hugging Face Hub is off (HF_HUB_OFFLINE=1); run with "
                       f"LONGVGENBENCH_ONLINE=1 on a machine with network, logged in (`hf auth login`)")


def push_split(root: Path, repo_id: str, private: bool = False) -> str:
    """Upload ``root`` (a finished split) to the dataset repo ``repo_id``; returns the commit URL."""
    root = Path(root)
    if not (root / MANIFEST_JSON).is_file():
        raise HubError(f"{root}: not a finished split (no {MANIFEST_JSON}); finish the build first")
    require_online(f"push {root} to {repo_id}")
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(root), repo_id=repo_id, repo_type="dataset",
                                 ignore_patterns=[".build/**", ".*"],
                                 commit_message="longvgenbench build")
    except Exception as exc:  # huggingface_hub raises many types (auth, network, quota): one clear line
        raise HubError(f"pushing {root} to {repo_id} failed ({type(exc).__name__}: {exc})") from exc
    return str(getattr(info, "commit_url", info))


def download_split(repo_id: str, revision: str | None = None, cache: Path | None = None) -> Path:
    """A local copy of a split published with :func:`push_split` (then ``load_split(path)``)."""
    require_online(f"download {repo_id}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision,
                                      cache_dir=None if cache is None else str(cache)))
    except Exception as exc:
        raise HubError(f"downloading {repo_id} failed ({type(exc).__name__}: {exc})") from exc
