"""The plots of a model page: each clip-level metric over time, and the per-category bars.

Made with the report's own plotting code (one source of truth for how a run is drawn), as PNG
bytes; the server caches them per submission id since a submission never changes.
"""

from __future__ import annotations

import threading

from leaderboard.store import Entry
from longvgenbench.report.charts import category_bars
from longvgenbench.report.inputs import make_runs, metric_infos
from longvgenbench.report.plots import clip_metrics, file_stem, metric_plot

_lock = threading.Lock()  # matplotlib's pyplot state is not thread-safe


def entry_plots(entry: Entry) -> list[tuple[str, bytes]]:
    runs = make_runs([entry.results], None)
    infos = metric_infos(runs)
    taken: set[str] = set()
    out = []
    with _lock:
        for metric in clip_metrics(infos, runs):
            plot = metric_plot(metric, infos[metric], runs, file_stem(metric, taken))
            out.append((f"{metric} over time", plot.png))
        out += [(chart.caption, chart.png) for chart in category_bars(runs, infos)]
    return out
