"""HTML pages of the leaderboard, shared by the server and the static site builder.

Every string that comes from a submission (model names, metric names, descriptions, problems)
goes through ``html.escape`` here and nowhere else is HTML built from data; the only script is
the fixed table sorter below, which moves rows and never writes markup. Links carry only ids
the server made (uuid hex), never names from a client.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from leaderboard.schema import SplitDefinition
from leaderboard.store import VERIFIED, Entry
from leaderboard.validation import Verdict
from longvgenbench.report.tables import arrow, decimals_for, format_interval
from longvgenbench.results import MetricResult

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:1300px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3;cursor:pointer;user-select:none}td.num{text-align:right;white-space:nowrap}
.label{font-size:.75em;padding:.1em .45em;border-radius:.6em;white-space:nowrap}
.verified{background:#d4f4dd;color:#14532d}.self-reported{background:#eee;color:#444}
.problems li{color:#8b0000}figure img{max-width:100%}nav a{margin-right:1em}
""".strip()

# Sorts a table by the clicked column: numbers by data-sort, text by textContent. No markup is written.
_SORT_JS = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var asc = th.getAttribute("data-dir") !== "asc";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      var nx = parseFloat(x.getAttribute("data-sort")), ny = parseFloat(y.getAttribute("data-sort"));
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny
            : (isNaN(nx) ? 1 : 0) - (isNaN(ny) ? 1 : 0) || x.textContent.localeCompare(y.textContent);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
""".strip()


@dataclass(frozen=True)
class Links:
    """Where pages live: the server's routes, or the static site's files."""

    home: str
    static: bool

    def model(self, entry_id: str) -> str:
        return f"{self.home}models/{entry_id}.html" if self.static else f"{self.home}model/{entry_id}"


SERVER_LINKS = Links(home="/", static=False)
e = html.escape


def page(title: str, body: str, links: Links) -> str:
    nav = f'<nav><a href="{e(links.home)}">Leaderboard</a>'
    if not links.static:
        nav += '<a href="/submit">Submit</a><a href="/api/submissions">JSON API</a>'
    nav += "</nav>"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{_CSS}</style></head><body>{nav}<h1>{e(title)}</h1>{body}"
            f"<script>{_SORT_JS}</script></body></html>\n")


def status_label(entry: Entry) -> str:
    cls = "verified" if entry.status == VERIFIED else "self-reported"
    return f'<span class="label {cls}">{e(entry.status)}</span>'


def _metric_columns(entries: Sequence[Entry]) -> list[MetricResult]:
    """One representative per measured metric (derived drift metrics live on the model pages)."""
    seen: dict[str, MetricResult] = {}
    for entry in entries:
        for m in entry.results.metrics:
            if m.level != "derived":
                seen.setdefault(m.metric, m)
    return list(seen.values())


def ranks(entries: Sequence[Entry], metric: str, higher_is_better: bool) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4) by the mean of ``metric``; entries without it get none."""
    values = {}
    for entry in entries:
        found = next((m for m in entry.results.metrics if m.metric == metric), None)
        if found is not None and math.isfinite(found.overall.mean):
            values[entry.id] = found.overall.mean
    ordered = sorted(values.values(), reverse=higher_is_better)
    return {k: 1 + ordered.index(v) for k, v in values.items()}


def leaderboard_table(entries: Sequence[Entry], rank_by: str | None, links: Links) -> str:
    columns = _metric_columns(entries)
    if not columns:
        return "<p>No metrics.</p>"
    key = next((m for m in columns if m.metric == rank_by), columns[0])
    rank = ranks(entries, key.metric, key.higher_is_better)
    head = [f"rank (by {e(key.metric)} {arrow(key.higher_is_better)})", "model", "label", "videos"]
    head += [f"{e(m.metric)} {arrow(m.higher_is_better)}" for m in columns]
    decimals = {m.metric: decimals_for([x.overall for en in entries for x in en.results.metrics
                                        if x.metric == m.metric]) for m in columns}
    rows = []
    for entry in sorted(entries, key=lambda en: rank.get(en.id, 10**9)):
        r = rank.get(entry.id)
        cells = [f'<td class="num" data-sort="{r if r is not None else ""}">{r if r is not None else "—"}</td>',
                 f'<td><a href="{e(links.model(entry.id))}">{e(entry.model)}</a></td>',
                 f"<td>{status_label(entry)}</td>",
                 f'<td class="num" data-sort="{entry.results.num_videos}">{entry.results.num_videos}</td>']
        for col in columns:
            m = next((x for x in entry.results.metrics if x.metric == col.metric), None)
            if m is None:
                cells.append('<td class="num" data-sort="">—</td>')
            else:
                text = format_interval(m.overall, decimals[col.metric])
                cells.append(f'<td class="num" data-sort="{m.overall.mean!r}">{e(text)}</td>')
        rows.append(f'<tr data-id="{e(entry.id)}">' + "".join(cells) + "</tr>")
    header = "".join(f"<th>{h}</th>" for h in head)
    return (f'<table class="sortable leaderboard"><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def index_page(entries: Sequence[Entry], splits: Mapping[str, SplitDefinition], rank_by: str | None,
               links: Links) -> str:
    parts = ["<p>Each cell: mean over videos [95% bootstrap interval]. Click a column header to sort. "
             "<em>self-reported</em>: validated automatically (schema, evaluator versions and weights, every "
             "sample present once, aggregates recomputed from the rows); <em>verified</em>: additionally checked "
             "by a maintainer.</p>"]
    by_split: dict[str, list[Entry]] = {}
    for entry in entries:
        by_split.setdefault(entry.split_manifest_sha256, []).append(entry)
    if not by_split:
        parts.append("<p>No submissions yet.</p>")
    for sha, group in sorted(by_split.items(), key=lambda kv: kv[1][0].split_name):
        name = splits[sha].name if sha in splits else group[0].split_name
        parts.append(f"<h2>{e(name)} <small>(manifest {e(sha[:12])})</small></h2>")
        parts.append(leaderboard_table(group, rank_by, links))
    return page("LongVGenBench leaderboard", "".join(parts), links)


def _img(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{e(caption)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>")


def model_page(entry: Entry, plots: Sequence[tuple[str, bytes]], links: Links) -> str:
    r = entry.results
    rows = "".join(
        f"<tr><td>{e(m.metric)} {arrow(m.higher_is_better)}</td>"
        f'<td class="num">{e(format_interval(m.overall, decimals_for([m.overall])))}</td>'
        f'<td class="num">{m.overall.n}</td><td>{e(m.evaluator)} {e(m.evaluator_version)}</td>'
        f"<td>{e(m.description)}</td></tr>"
        for m in r.metrics
    )
    unavailable = "".join(f"<li>{e(u.evaluator)}: {e(u.reason)}</li>" for u in r.unavailable)
    body = (
        f"<p>{status_label(entry)} submitted {e(entry.submitted_at)} · split {e(r.split)} "
        f"(manifest {e(r.split_manifest_sha256[:12])}) · {r.num_videos} videos · seed {r.seed} · "
        f"id <code>{e(entry.id)}</code> · content sha256 <code>{e(entry.content_sha256[:16])}</code></p>"
        f'<table class="sortable"><thead><tr><th>metric</th><th>mean [95% interval]</th><th>videos</th>'
        f"<th>evaluator</th><th>description</th></tr></thead><tbody>{rows}</tbody></table>"
        + (f"<h2>Unavailable evaluators</h2><ul>{unavailable}</ul>" if unavailable else "")
        + "<h2>Plots</h2>" + ("".join(_img(png, caption) for caption, png in plots) or "<p>No plots.</p>")
    )
    return page(f"{entry.model}", body, links)


def upload_page(message: str = "") -> str:
    body = (
        f"{message}<p>Upload a run's <code>results.json</code> and <code>samples.jsonl</code> (from "
        "<code>longvgenbench evaluate</code>), or one submission document written by "
        "<code>longvgenbench submit RUN --to DIR</code>.</p>"
        '<form method="post" action="/submit" enctype="multipart/form-data">'
        '<p><label>results.json <input type="file" name="results" accept=".json"></label></p>'
        '<p><label>samples.jsonl <input type="file" name="samples" accept=".jsonl"></label></p>'
        '<p><label>or a submission document <input type="file" name="document" accept=".json"></label></p>'
        '<p><button type="submit" id="submit-button">Submit</button></p></form>'
    )
    return page("Submit a run", body, SERVER_LINKS)


def verdict_html(verdict: Verdict, entry_id: str | None = None) -> str:
    if verdict.accepted:
        link = f' <a href="/model/{e(entry_id)}">View the entry</a>.' if entry_id else ""
        return f'<p class="accepted">Accepted: {e(verdict.summary())}.{link}</p>'
    items = "".join(f"<li><strong>{e(p.code)}</strong> {e(p.field)}: {e(p.message)}</li>" for p in verdict.problems)
    return f'<div class="rejected"><p>Rejected. What is wrong:</p><ul class="problems">{items}</ul></div>'


def error_html(message: str) -> str:
    return f'<div class="rejected"><p>Rejected. What is wrong:</p><ul class="problems"><li>{e(message)}</li></ul></div>'


def entry_json(entry: Entry, full: bool = False) -> dict[str, Any]:
    out = {"id": entry.id, "model": entry.model, "split": entry.split_name,
           "split_manifest_sha256": entry.split_manifest_sha256, "status": entry.status, "hidden": entry.hidden,
           "submitted_at": entry.submitted_at, "content_sha256": entry.content_sha256,
           "metrics": {m.metric: asdict(m.overall) | {"higher_is_better": m.higher_is_better}
                       for m in entry.results.metrics}}
    if full:
        out["results"] = asdict(entry.results)
        out["video_sha256"] = dict(entry.video_sha256)
    return out
