"""Reports of one or more runs: Markdown, standalone HTML, a long CSV and plots over time.

Entry point: :func:`write_report`. The published LongVie 2 numbers live in
:mod:`longvgenbench.report.published` and are only ever shown in their own table.
"""

from longvgenbench.report.inputs import MixedSplitsError, ReportInputError
from longvgenbench.report.writer import ReportFiles, write_report

__all__ = ["MixedSplitsError", "ReportFiles", "ReportInputError", "write_report"]
