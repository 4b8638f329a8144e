"""Atomic writes: every file appears whole or not at all (temp file in the same folder + rename).

A run killed at any instant (Ctrl-C, ``kill -9``, a full disk) therefore leaves either the old
file or the new one, never half of one, and a resumed run can trust whatever it finds.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from longvgenbench.errors import OutputDirError


def _explain_os_error(path: Path, exc: OSError) -> OutputDirError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputDirError(f"cannot write {path}: the directory is read-only or not yours ({exc.strerror})")
    if exc.errno == errno.ENOSPC:
        return OutputDirError(f"cannot write {path}: no space left on the device; finished results are intact")
    return OutputDirError(f"cannot write {path}: {exc.strerror or exc}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, else delete it.

    ``suffix`` keeps the extension a writer needs to pick its format (e.g. ``.mp4`` for PyAV).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix + ".tmp", dir=path.parent
        )
        os.close(fd)
    except OSError as exc:
        raise _explain_os_error(path, exc) from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the modes a plain open() would
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _explain_os_error(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path | str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, obj: Any) -> None:
    """Pretty, key-sorted JSON (stable bytes for the same content); NaN/inf are refused."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_npz(path: Path | str, arrays: Mapping[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes(path, buffer.getvalue())
