"""One exception hierarchy, so the CLI can turn every expected failure into one clear line.

Every error names the thing that is wrong (a file, a model, a field) and, where there is
one, what the user can do about it. Nothing here is ever stored in result data: failures
are raised, never returned as strings.
"""

from __future__ import annotations

from pathlib import Path


class LongVGenBenchError(Exception):
    """Base class of every error the CLI reports as a clean message (exit code 2)."""


class VideoError(LongVGenBenchError):
    """A video file is missing, empty, corrupt, truncated or not what the protocol expects."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ControlError(LongVGenBenchError):
    """A control signal (depth, tracks, camera) is malformed: NaN, out of range, wrong shape."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SplitError(LongVGenBenchError):
    """A split cannot be loaded: missing files, a sha256 mismatch, an unknown layout."""


class UnknownNameError(LongVGenBenchError):
    """An unknown model, evaluator or split name; the message suggests the closest names."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        import difflib

        self.kind = kind
        self.name = name
        self.known = sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(self.known) if self.known else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}.{hint} Known {kind}s: {listing}.")


class MismatchError(LongVGenBenchError):
    """Generated and ground-truth videos disagree in length, size or frame rate."""


class OutputDirError(LongVGenBenchError):
    """The output directory cannot be written (read-only, full, or would overwrite results)."""


class WeightsUnavailableError(LongVGenBenchError):
    """A model's or metric's weights are not on this machine. Says which file and how to get it."""

    def __init__(self, what: str, path: Path | str | None, how_to_get: str) -> None:
        self.what = what
        self.path = None if path is None else Path(path)
        self.how_to_get = how_to_get
        where = f" (looked for {self.path})" if self.path is not None else ""
        super().__init__(f"{what} is unavailable{where}: {how_to_get}")


class OptionError(LongVGenBenchError):
    """A plug-in was given an option it does not take, or a value it cannot use."""
