"""``leaderboard build``: the server's pages as a static site (GitHub Pages, a Hugging Face Space).

Same page builders as the server, with relative links: ``index.html``, ``models/<id>.html``,
and ``submissions.json`` (what ``GET /api/submissions`` returns). Hidden entries are left out.
Files are written atomically; nothing else in the output folder is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from leaderboard import pages
from leaderboard.figures import entry_plots
from leaderboard.store import Store
from longvgenbench import atomic


@dataclass(frozen=True)
class SiteFiles:
    index: Path
    model_pages: tuple[Path, ...]
    data: Path


def build_site(store: Store, out: Path | str, rank_by: str | None = None, progress: bool = False) -> SiteFiles:
    out = Path(out)
    entries, splits = store.entries(), store.splits()
    index = out / "index.html"
    atomic.write_text(index, pages.index_page(entries, splits, rank_by, pages.Links(home="", static=True)))
    model_links = pages.Links(home="../", static=True)
    written = []
    for entry in tqdm(entries, desc="model pages", unit="page", disable=not progress):
        path = out / "models" / f"{entry.id}.html"
        atomic.write_text(path, pages.model_page(entry, entry_plots(entry), model_links))
        written.append(path)
    data = out / "submissions.json"
    listing = {"submissions": [pages.entry_json(e) for e in entries]}
    atomic.write_text(data, json.dumps(listing, indent=1, sort_keys=True))
    atomic.write_text(out / ".nojekyll", "")
    return SiteFiles(index=index, model_pages=tuple(written), data=data)
