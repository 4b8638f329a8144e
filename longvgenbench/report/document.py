"""A tiny document model, so Markdown and HTML are rendered from one structure and never drift.

Every string in it is plain text taken as-is from results or written by the report; escaping
is the renderer's job (``render.py``), done once, at the last moment, for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    #: columns from this index on hold numbers (right-aligned)
    numeric_from: int = 1


@dataclass(frozen=True)
class Heading:
    level: int  # 2 or 3 (the title is level 1)
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str
    emphasis: bool = False


@dataclass(frozen=True)
class Bullets:
    """A list of ``label: text`` items (label shown in bold; empty label for plain items)."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Figure:
    caption: str
    #: the PNG on disk (HTML embeds its bytes) and its path relative to the report (Markdown links it)
    png: Path
    relpath: str


Block = Heading | Paragraph | Bullets | Table | Figure


@dataclass(frozen=True)
class Document:
    title: str
    blocks: tuple[Block, ...]
