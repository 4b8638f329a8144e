"""The leaderboard server: API, form, admin, escaping, limits, 20 concurrent submissions, a kill mid-write,
and the static site."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("sqlalchemy")
pytest.importorskip("uvicorn")

from leaderboard_support import (
    document,
    edit,
    evaluators,
    free_port,
    real_runs,
    renamed,
    serve_in_thread,
    split_definition,
)
from starlette.testclient import TestClient

from leaderboard.server import create_app
from leaderboard.site import build_site
from leaderboard.store import Store, default_url
from leaderboard.validation import Limits

TOKEN = "test-admin-token"
XSS = "<script>alert(1)</script>"


def make_store(path: Path) -> Store:
    store = Store(default_url(path))
    store.add_split(split_definition())
    return store


@pytest.fixture
def client(tmp_path):
    store = make_store(tmp_path / "lb.sqlite")
    app = create_app(store, admin_token=TOKEN, evaluators=evaluators(), limits=Limits(max_bytes=2 * 2**20))
    with TestClient(app) as c:
        c.store = store  # type: ignore[attr-defined]
        yield c
    store.close()


def post(c, doc):
    return c.post("/api/submissions", content=doc.to_json(), headers={"content-type": "application/json"})


def test_submit_list_get_and_idempotent(client):
    first = post(client, document("oracle"))
    assert first.status_code == 201 and first.json()["accepted"] and first.json()["created"]
    again = post(client, document("oracle"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and not again.json()["created"]
    listing = client.get("/api/submissions").json()["submissions"]
    assert [s["model"] for s in listing] == ["oracle"] and listing[0]["status"] == "self-reported"
    full = client.get(f"/api/submissions/{first.json()['id']}").json()
    assert full["results"]["model"] == "oracle" and full["metrics"]["ssim"]["mean"] == pytest.approx(1.0)


def test_rejection_carries_the_verdict(client):
    bad = edit(document("static"), rows=lambda rows: [*rows, rows[0]])
    answer = post(client, bad)
    assert answer.status_code == 422
    assert "duplicate_sample" in {p["code"] for p in answer.json()["problems"]}
    assert client.store.count() == 0
    for raw in (b"not json", b'{"format": "longvgenbench-submission", "format_version": 1, "results": "x"}'):
        answer = client.post("/api/submissions", content=raw, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and answer.json()["problems"][0]["code"] == "format"


def test_body_limit(client):
    answer = client.post("/api/submissions", content=b"x" * (3 * 2**20), headers={"content-type": "application/json"})
    assert answer.status_code == 413


def test_form_upload_and_escaped_model_page(client):
    doc = renamed(document("static"), XSS)
    files = {"results": ("../../etc/passwd", doc.results_json.encode()),
             "samples": ("x.jsonl", doc.samples_jsonl.encode())}
    answer = client.post("/submit", files=files)
    assert answer.status_code == 200 and "Accepted" in answer.text
    assert XSS not in answer.text and "&lt;script&gt;" in answer.text
    index = client.get("/")
    assert XSS not in index.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in index.text
    entry_id = client.get("/api/submissions").json()["submissions"][0]["id"]
    page = client.get(f"/model/{entry_id}")
    assert page.status_code == 200 and XSS not in page.text and page.text.count("data:image/png;base64,") >= 4
    assert not list(Path(".").glob("etc/passwd"))


def test_admin_verify_hide_delete_and_audit(client):
    entry_id = post(client, document("oracle")).json()["id"]
    assert client.post(f"/api/admin/submissions/{entry_id}/verify").status_code == 401
    assert client.post(f"/api/admin/submissions/{entry_id}/verify",
                       headers={"authorization": "Bearer wrong"}).status_code == 401
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert client.post(f"/api/admin/submissions/{entry_id}/verify", headers=auth).json()["status"] == "verified"
    assert "verified" in client.get("/").text
    client.post(f"/api/admin/submissions/{entry_id}/hide", headers=auth)
    assert client.get("/api/submissions").json()["submissions"] == []
    assert client.get(f"/model/{entry_id}").status_code == 404
    assert client.delete(f"/api/admin/submissions/{entry_id}", headers=auth).status_code == 200
    assert client.store.count() == 0
    actions = [r["action"] for r in client.get("/api/admin/audit", headers=auth).json()["audit"]]
    assert actions == ["register_split", "submit", "verify", "hide", "delete"]


def test_admin_disabled_without_token(tmp_path):
    store = make_store(tmp_path / "lb.sqlite")
    with TestClient(create_app(store, evaluators=evaluators())) as c:
        assert c.get("/api/admin/audit", headers={"authorization": "Bearer "}).status_code == 403


def _post_url(url: str, doc) -> tuple[int, dict]:
    request = urllib.request.Request(url + "/api/submissions", data=doc.to_json().encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_twenty_concurrent_submissions_all_stored_once(tmp_path):
    store = make_store(tmp_path / "lb.sqlite")
    docs = [renamed(document("static"), f"model-{k:02d}") for k in range(20)]
    with serve_in_thread(create_app(store, evaluators=evaluators())) as url, \
            concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda d: _post_url(url, d), docs + docs[:5]))  # 5 sent twice
    assert all(status in (200, 201) for status, _ in answers), answers
    assert sum(status == 201 for status, _ in answers) == 20
    entries = store.entries()
    assert sorted(e.model for e in entries) == [f"model-{k:02d}" for k in range(20)]
    assert len({e.id for e in entries}) == 20
    assert {a["id"] for _, a in answers} == {e.id for e in entries}
    assert sum(r.action == "submit" for r in store.audit()) == 20
    assert store.integrity_ok()


def test_database_survives_server_kill_mid_write(tmp_path):
    runs = real_runs()
    db = tmp_path / "lb.sqlite"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "longvgenbench", "leaderboard", "serve", "--db", str(db),
                             "--port", str(port), "--split", str(runs.split)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/api/submissions", timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        docs = [renamed(document("oracle"), f"kill-{k:02d}") for k in range(20)]
        acked: list[str] = []

        def send(doc) -> None:
            try:
                status, answer = _post_url(url, doc)
                if status == 201:
                    acked.append(answer["id"])
            except OSError:
                pass  # the server died under this request: not acknowledged, may or may not be stored

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(send, d) for d in docs]
            deadline = time.time() + 120
            while len(acked) < 3 and time.time() < deadline:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            concurrent.futures.wait(futures, timeout=180)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(acked) >= 3
    store = Store(default_url(db))
    assert store.integrity_ok()
    entries = store.entries()
    assert set(acked) <= {e.id for e in entries}  # every acknowledged submission is there, intact
    assert len({e.model for e in entries}) == len(entries) <= 20
    assert {r.submission_id for r in store.audit() if r.action == "submit"} == {e.id for e in entries}
    assert all(store.samples(e.id) for e in entries)


def test_static_site(tmp_path):
    store = make_store(tmp_path / "lb.sqlite")
    from leaderboard.validation import validate

    for model in ("static", "oracle"):
        doc = document(model)
        store.add_submission(doc, validate(doc, store.splits(), evaluators()))
    files = build_site(store, tmp_path / "site", rank_by="psnr")
    index = files.index.read_text()
    assert "rank (by psnr ↑)" in index and len(files.model_pages) == 2
    for page in files.model_pages:
        assert f'href="models/{page.stem}.html"' in index and "data:image/png" in page.read_text()
    data = json.loads(files.data.read_text())
    assert {s["model"] for s in data["submissions"]} == {"static", "oracle"}
    # oracle has the best PSNR, so it ranks first
    rows = index.split("<tbody>")[1]
    assert rows.index("oracle") < rows.index("static")
