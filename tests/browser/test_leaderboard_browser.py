"""The leaderboard in a real browser: Debian's headless Chromium driven by Playwright.

Skips (with the reason) when Chromium or Playwright is missing; never downloads a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="pip install playwright (no `playwright install` needed)")
pytest.importorskip("uvicorn")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboard_support import document, edit, evaluators, renamed, serve_in_thread, split_definition  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from leaderboard.server import create_app  # noqa: E402
from leaderboard.store import Store, default_url  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    store = Store(default_url(tmp / "lb.sqlite"))
    store.add_split(split_definition())
    with serve_in_thread(create_app(store, evaluators=evaluators())) as url:
        yield url, store, tmp
    store.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    yield pg
    context.close()


def upload(page, url: str, tmp: Path, doc, name: str) -> None:
    (tmp / f"{name}.results.json").write_text(doc.results_json)
    (tmp / f"{name}.samples.jsonl").write_text(doc.samples_jsonl)
    page.goto(url + "/submit")
    page.set_input_files("input[name=results]", str(tmp / f"{name}.results.json"))
    page.set_input_files("input[name=samples]", str(tmp / f"{name}.samples.jsonl"))
    page.click("#submit-button")
    page.wait_for_load_state()


def test_upload_row_sort_and_model_page(site, page):
    url, _, tmp = site
    upload(page, url, tmp, document("static"), "static")
    assert "Accepted" in page.inner_text("body")
    upload(page, url, tmp, document("oracle"), "oracle")
    page.goto(url + "/")
    models = page.locator("table.leaderboard tbody tr td:nth-child(2)")
    assert sorted(models.all_inner_texts()) == ["oracle", "static"]
    # sort by PSNR: ascending then descending puts static, then oracle, first
    header = page.locator("table.leaderboard th", has_text="psnr")
    header.click()
    assert models.first.inner_text() == "static"
    header.click()
    assert models.first.inner_text() == "oracle"
    page.click("text=oracle")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "oracle"
    images = page.locator("figure img")
    assert images.count() >= 4
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert all(w > 100 for w in widths)


def test_injected_script_is_inert(site, page):
    url, _, tmp = site
    upload(page, url, tmp, renamed(document("static"), XSS), "xss")
    page.goto(url + "/")
    assert page.locator("table.leaderboard td", has_text=XSS).count() == 1  # shown as text
    page.click(f"text={XSS}")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == XSS
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_malformed_submission_rejected_with_reason(site, page):
    url, store, tmp = site
    before = store.count()
    bad = edit(document("oracle"), rows=lambda rows: rows[1:])
    upload(page, url, tmp, bad, "bad")
    text = page.inner_text(".rejected")
    assert "missing_sample" in text and "Rejected" in text
    assert store.count() == before
