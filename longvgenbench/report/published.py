"""The numbers the LongVie 2 paper published for LongVGenBench, kept as data with their source.

They are shown in their own table and never merged with runs of this suite: upstream released
no evaluation code, several baseline rows were copied from LongVie 1's 49-frame / 8 fps
protocol, and the paper does not say how VBench was run on minute-long videos. Nothing here
is protocol-matched, so nothing here may be ranked against a measured number.
"""

from __future__ import annotations

from dataclasses import dataclass

CITATION = (
    "LongVie 2 (arXiv 2512.13604), Table 1: LongVGenBench. "
    "Values as printed (VBench dimensions and O.C./D.D. in percent)."
)

CAVEATS = (
    "Not protocol-matched: upstream released no evaluation code; it is not stated whether VBench "
    "ran per clip or on the whole minute, how ground truth was resized for SSIM/LPIPS, which LPIPS "
    "backbone was used, or how O.C. got its prompt.",
    "Several baseline rows were copied from LongVie 1's 49-frame / 8 fps protocol.",
    "The paper's ablation table gives D.D. 82.59 for the same full LongVie 2 model (82.95 here).",
)


@dataclass(frozen=True)
class PublishedColumn:
    """One column of the published table and, for reference only, the suite metric it resembles."""

    label: str
    higher_is_better: bool
    meaning: str
    #: The suite's metric with the same intent; the definitions may differ (see CAVEATS).
    resembles: str
    decimals: int


@dataclass(frozen=True)
class PublishedRow:
    method: str
    values: tuple[float, ...]  # in the order of COLUMNS


COLUMNS: tuple[PublishedColumn, ...] = (
    PublishedColumn("A.Q.", True, "aesthetic quality", "aesthetic_quality", 2),
    PublishedColumn("I.Q.", True, "imaging quality", "imaging_quality", 2),
    PublishedColumn("SSIM", True, "SSIM against ground truth", "ssim", 3),
    PublishedColumn("LPIPS", False, "LPIPS against ground truth", "lpips", 3),
    PublishedColumn("S.C.", True, "subject consistency", "subject_consistency", 2),
    PublishedColumn("B.C.", True, "background consistency", "background_consistency", 2),
    PublishedColumn("O.C.", True, "overall (text-video) consistency", "overall_consistency", 2),
    PublishedColumn("D.D.", True, "dynamic degree", "dynamic_degree", 2),
)

ROWS: tuple[PublishedRow, ...] = (
    PublishedRow("Wan2.1", (49.72, 63.78, 0.406, 0.488, 83.56, 88.86, 20.30, 15.15)),
    PublishedRow("VideoComposer", (43.53, 59.33, 0.346, 0.583, 80.33, 88.30, 19.83, 27.78)),
    PublishedRow("Motion-I2V", (48.34, 61.57, 0.385, 0.504, 82.35, 89.25, 20.46, 44.13)),
    PublishedRow("Go-With-The-Flow", (53.59, 62.21, 0.453, 0.394, 84.37, 90.62, 21.79, 46.15)),
    PublishedRow("DiffusionAsShader", (53.28, 64.57, 0.401, 0.482, 86.06, 90.78, 21.10, 36.76)),
    PublishedRow("Matrix-Game-2.0", (55.24, 59.23, 0.427, 0.501, 77.82, 76.43, 19.37, 74.45)),
    PublishedRow("HunyuanGameCraft", (56.18, 67.73, 0.483, 0.386, 79.12, 74.24, 20.94, 80.46)),
    PublishedRow("LongVie 2", (58.47, 69.77, 0.529, 0.295, 91.05, 92.45, 23.37, 82.95)),
)

TABLE_TITLE = "Published (LongVie 2 paper, Table 1; not protocol-matched)"
