"""Splits: the on-disk split format (``store``), reading it (``reader``), upstream LongVie folders
(``folder``), and ``load_split`` over paths and registered sources (``api``)."""

from longvgenbench.splits.api import SplitSource, cached_split_dir, load_split
from longvgenbench.splits.folder import read_longvie_folder
from longvgenbench.splits.reader import read_split

__all__ = ["SplitSource", "cached_split_dir", "load_split", "read_longvie_folder", "read_split"]
