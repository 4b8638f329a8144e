"""The leaderboard web application (Starlette, served by uvicorn).

Routes (HTML for people, JSON for programs):

- ``GET /``: the sortable table per split (``?rank_by=METRIC``); ``GET /model/{id}``: one entry with plots.
- ``GET /submit`` + ``POST /submit``: the upload form (results.json + samples.jsonl, or a document).
- ``POST /api/submissions``: a submission document (``longvgenbench submit --to URL``); 201 stored,
  200 already stored (same content), 422 rejected with the verdict, 413 too large.
- ``GET /api/submissions``, ``GET /api/submissions/{id}``: what the table shows, as JSON.
- Admin (``Authorization: Bearer <token>``): ``POST /api/admin/submissions/{id}/{verify|unverify|hide|unhide}``,
  ``DELETE /api/admin/submissions/{id}``, ``POST /api/admin/splits``, ``GET /api/admin/audit``.

Bodies are capped before they are read (an ASGI middleware counts bytes, whatever the
Content-Length claims); client file names are never used, for paths or anything else.
Validation and database work run in the thread pool, so one slow upload never blocks the rest.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leaderboard import pages
from leaderboard.figures import entry_plots
from leaderboard.pages import entry_json
from leaderboard.schema import SplitDefinition, SubmissionDocument, SubmissionFormatError, parse_document, strict_json
from leaderboard.store import SELF_REPORTED, VERIFIED, Entry, Store, UnknownSubmissionError
from leaderboard.validation import EvaluatorInfo, Limits, Verdict, installed_evaluators, validate

#: Room for multipart framing on top of the submission itself.
_FORM_OVERHEAD = 64 * 1024


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to any request whose body exceeds ``max_bytes`` (declared or actually sent)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _too_large(self.max_bytes)(scope, receive, send)


def _too_large(limit: int) -> Response:
    return JSONResponse({"accepted": False, "problems": [
        {"code": "too_large", "field": "request", "message": f"request body over {limit} bytes"}]}, status_code=413)


def verdict_json(verdict: Verdict, entry: Entry | None = None, created: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"accepted": verdict.accepted, "content_sha256": verdict.content_sha256,
                           "model": verdict.model, "split": verdict.split,
                           "problems": [asdict(p) for p in verdict.problems]}
    if entry is not None:
        out |= {"id": entry.id, "status": entry.status, "created": created}
    return out


class Leaderboard:
    """The application's state: the store, what validation checks against, and the admin token."""

    def __init__(self, store: Store, admin_token: str | None, limits: Limits,
                 evaluators: Mapping[str, EvaluatorInfo] | None = None) -> None:
        self.store = store
        self.admin_token = admin_token or None
        self.limits = limits
        self._evaluators = dict(evaluators) if evaluators is not None else None
        self._plots: dict[str, list[tuple[str, bytes]]] = {}
        self._lock = threading.Lock()

    def evaluators(self) -> Mapping[str, EvaluatorInfo]:
        with self._lock:
            if self._evaluators is None:
                self._evaluators = installed_evaluators()
            return self._evaluators

    def submit(self, doc: SubmissionDocument, actor: str = "public") -> tuple[Verdict, Entry | None, bool]:
        verdict = validate(doc, self.store.splits(), self.evaluators(), self.limits)
        if not verdict.accepted:
            return verdict, None, False
        stored = self.store.add_submission(doc, verdict, actor=actor)
        return verdict, stored.entry, stored.created

    def plots(self, entry: Entry) -> list[tuple[str, bytes]]:
        if entry.id not in self._plots:
            self._plots[entry.id] = entry_plots(entry)
        return self._plots[entry.id]

    def is_admin(self, request: Request) -> bool:
        if self.admin_token is None:
            return False
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.admin_token}".encode())


def create_app(store: Store, *, admin_token: str | None = None, limits: Limits | None = None,
               evaluators: Mapping[str, EvaluatorInfo] | None = None) -> ASGIApp:
    limits = limits or Limits()
    lb = Leaderboard(store, admin_token, limits, evaluators)

    async def index(request: Request) -> Response:
        entries, splits = await run_in_threadpool(lambda: (store.entries(), store.splits()))
        rank_by = request.query_params.get("rank_by")
        return HTMLResponse(pages.index_page(entries, splits, rank_by, pages.SERVER_LINKS))

    async def model(request: Request) -> Response:
        try:
            entry = await run_in_threadpool(store.get, request.path_params["entry_id"])
        except UnknownSubmissionError as exc:
            return HTMLResponse(pages.page("Not found", pages.error_html(str(exc)), pages.SERVER_LINKS), 404)
        if entry.hidden:
            return HTMLResponse(pages.page("Not found", pages.error_html("this entry is hidden"),
                                           pages.SERVER_LINKS), 404)
        plots = await run_in_threadpool(lb.plots, entry)
        return HTMLResponse(pages.model_page(entry, plots, pages.SERVER_LINKS))

    async def submit_form(request: Request) -> Response:
        return HTMLResponse(pages.upload_page())

    async def submit_upload(request: Request) -> Response:
        try:
            async with request.form(max_files=3, max_fields=3, max_part_size=limits.max_bytes) as form:
                parts = {}
                for name in ("results", "samples", "document"):
                    item = form.get(name)
                    # the client's file name is ignored: only the bytes are read
                    parts[name] = (await item.read()) if hasattr(item, "read") else (item or b"")
                    if isinstance(parts[name], str):
                        parts[name] = parts[name].encode()
            if parts["document"]:
                doc = parse_document(parts["document"], limits.max_bytes)
            elif parts["results"] and parts["samples"]:
                results = strict_json(parts["results"], "results.json")
                doc = SubmissionDocument(results_json=json.dumps(results, sort_keys=True),
                                         samples_jsonl=parts["samples"].decode("utf-8"))
            else:
                raise SubmissionFormatError("choose both results.json and samples.jsonl, or a submission document")
        except (SubmissionFormatError, UnicodeDecodeError) as exc:
            return HTMLResponse(pages.upload_page(pages.error_html(str(exc))), 422)
        except BodyTooLarge:
            raise
        except Exception as exc:  # malformed multipart
            return HTMLResponse(pages.upload_page(pages.error_html(f"unreadable upload: {exc}")), 400)
        verdict, entry, _ = await run_in_threadpool(lb.submit, doc)
        message = pages.verdict_html(verdict, entry.id if entry else None)
        return HTMLResponse(pages.upload_page(message), 200 if verdict.accepted else 422)

    async def api_submit(request: Request) -> Response:
        body = await request.body()
        try:
            doc = parse_document(body, limits.max_bytes)
        except SubmissionFormatError as exc:
            return JSONResponse({"accepted": False, "problems": [
                {"code": "format", "field": "submission", "message": str(exc)}]}, 422)
        verdict, entry, created = await run_in_threadpool(lb.submit, doc)
        if entry is None:
            return JSONResponse(verdict_json(verdict), 422)
        return JSONResponse(verdict_json(verdict, entry, created), 201 if created else 200)

    async def api_list(request: Request) -> Response:
        entries = await run_in_threadpool(store.entries)
        return JSONResponse({"submissions": [entry_json(en) for en in entries]})

    async def api_get(request: Request) -> Response:
        try:
            entry = await run_in_threadpool(store.get, request.path_params["entry_id"])
        except UnknownSubmissionError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        if entry.hidden and not lb.is_admin(request):
            return JSONResponse({"error": "hidden"}, 404)
        return JSONResponse(entry_json(entry, full=True))

    def admin_denied(request: Request) -> Response | None:
        if lb.admin_token is None:
            return JSONResponse({"error": "admin actions are disabled (no admin token configured)"}, 403)
        if not lb.is_admin(request):
            return JSONResponse({"error": "admin token missing or wrong"}, 401)
        return None

    async def admin_action(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        action, entry_id = request.path_params["action"], request.path_params["entry_id"]
        changes = {"verify": {"status": VERIFIED}, "unverify": {"status": SELF_REPORTED},
                   "hide": {"hidden": True}, "unhide": {"hidden": False}}
        if action not in changes:
            return JSONResponse({"error": f"unknown action {action!r}; one of {sorted(changes)}"}, 404)
        try:
            entry = await run_in_threadpool(lambda: store.set_status(entry_id, **changes[action]))
        except UnknownSubmissionError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        return JSONResponse(entry_json(entry))

    async def admin_delete(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        try:
            await run_in_threadpool(store.delete, request.path_params["entry_id"])
        except UnknownSubmissionError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        lb._plots.pop(request.path_params["entry_id"], None)
        return JSONResponse({"deleted": request.path_params["entry_id"]})

    async def admin_split(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        try:
            definition = SplitDefinition.from_json(strict_json(await request.body(), "split definition"))
        except SubmissionFormatError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        await run_in_threadpool(store.add_split, definition)
        return JSONResponse({"registered": definition.name, "manifest_sha256": definition.manifest_sha256})

    async def admin_audit(request: Request) -> Response:
        if (denied := admin_denied(request)) is not None:
            return denied
        records = await run_in_threadpool(store.audit)
        return JSONResponse({"audit": [asdict(r) | {"detail": dict(r.detail)} for r in records]})

    routes = [
        Route("/", index), Route("/model/{entry_id}", model),
        Route("/submit", submit_form, methods=["GET"]), Route("/submit", submit_upload, methods=["POST"]),
        Route("/api/submissions", api_submit, methods=["POST"]), Route("/api/submissions", api_list, methods=["GET"]),
        Route("/api/submissions/{entry_id}", api_get, methods=["GET"]),
        Route("/api/admin/submissions/{entry_id}/{action}", admin_action, methods=["POST"]),
        Route("/api/admin/submissions/{entry_id}", admin_delete, methods=["DELETE"]),
        Route("/api/admin/splits", admin_split, methods=["POST"]),
        Route("/api/admin/audit", admin_audit, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.leaderboard = lb
    return BodyLimitMiddleware(app, limits.max_bytes + _FORM_OVERHEAD)
