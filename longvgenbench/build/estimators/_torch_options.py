"""Device and dtype options shared by the learned estimators (strings from the CLI -> torch objects)."""

from __future__ import annotations

from typing import Any

from longvgenbench.errors import OptionError, WeightsUnavailableError

DTYPES = ("float32", "float16", "bfloat16")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else is passed to torch as is."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise OptionError(f"device {device!r} is not a torch device ({exc})") from exc
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` -> float16 on a GPU, float32 on the CPU (half-precision convolutions are slow or missing there)."""
    import torch

    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if dtype not in DTYPES:
        raise OptionError(f"dtype must be auto or one of {DTYPES}, got {dtype!r}")
    return getattr(torch, dtype)


def require_transformers(what: str) -> None:
    try:
        import transformers  # noqa: F401
    except ImportError as exc:
        raise WeightsUnavailableError(what, None, "the transformers library is not installed: "
                                      "pip install 'longvgenbench[longvie]'") from exc
