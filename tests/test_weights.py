"""The weights registry: lookup order, sha256 checks, clear offline errors."""

from __future__ import annotations

import hashlib
import time
from types import SimpleNamespace

import pytest

from longvgenbench import weights
from longvgenbench.errors import UnknownNameError, WeightsUnavailableError

PAYLOAD = b"tiny weights"
ITEM = weights.WeightFile(
    key="tiny", filename="tiny.pth", source=weights.HubSource("org/tiny", "tiny.pth", "0123abcd"),
    licence="MIT", description="a tiny test file", sha256=hashlib.sha256(PAYLOAD).hexdigest(), size=len(PAYLOAD),
    vbench_subpath="tiny_model/tiny.pth", torch_hub=True,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "ours"))
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "vbench"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(weights, "entry_points",
                        lambda group: [SimpleNamespace(load=lambda: (ITEM,))] if group == weights.WEIGHTS_GROUP else [])
    return tmp_path


def test_missing_file_says_where_it_looked_and_how_to_get_it(isolated):
    with pytest.raises(WeightsUnavailableError) as info:
        weights.require(weights.get("tiny"))
    message = str(info.value)
    assert "tiny.pth" in message and "weights fetch tiny" in message and str(isolated / "vbench") in message


@pytest.mark.parametrize("where", ["ours", "vbench", "torch", "hf"])
def test_found_in_every_cache(isolated, where):
    path = {
        "ours": isolated / "ours" / "weights" / "tiny.pth",
        "vbench": isolated / "vbench" / "tiny_model" / "tiny.pth",
        "torch": isolated / "torch" / "hub" / "checkpoints" / "tiny.pth",
        "hf": isolated / "hf" / "models--org--tiny" / "snapshots" / "0123abcd" / "tiny.pth",
    }[where]
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    assert weights.require(ITEM) == path


def test_wrong_sha256_is_refused_by_name(isolated):
    path = isolated / "vbench" / "tiny_model" / "tiny.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"tiny weightz")  # same size, other bytes
    with pytest.raises(weights.WeightsMismatchError, match=r"tiny\.pth"):
        weights.require(ITEM)


def test_fetch_offline_fails_fast(isolated):
    started = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE"):
        weights.fetch(ITEM)
    assert time.perf_counter() - started < 2.0
    assert not (isolated / "ours" / "weights" / "tiny.pth").exists()


def test_unknown_key_suggests():
    with pytest.raises(UnknownNameError, match="tiny"):
        weights.get("tinny")
