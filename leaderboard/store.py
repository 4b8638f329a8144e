"""The leaderboard database (SQLAlchemy Core): submissions, registered splits and the audit log.

SQLite is the default (one file, WAL journal, ``synchronous=FULL``: a server killed mid-write
loses at most the transaction in flight, and the file stays consistent); any SQLAlchemy URL
works, e.g. ``postgresql+psycopg://...`` in production. Every change is one transaction that
also writes its audit-log row, so the log and the data never disagree. A submission is
identified by the sha256 of its content: the same files sent twice (or by 20 clients at once)
are stored once, through the unique constraint rather than a check-then-insert race.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from leaderboard.schema import SplitDefinition, SubmissionDocument
from leaderboard.validation import Verdict
from longvgenbench.errors import LongVGenBenchError
from longvgenbench.results import Results, results_from_dict

SELF_REPORTED = "self-reported"
VERIFIED = "verified"

metadata = sa.MetaData()

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("content_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("split_name", sa.String(256), nullable=False),
    sa.Column("split_manifest_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("submitted_at", sa.String(32), nullable=False),
    sa.Column("results_json", sa.Text, nullable=False),
    sa.Column("samples_jsonl", sa.Text, nullable=False),
    sa.Column("video_sha256_json", sa.Text, nullable=False),
)

splits = sa.Table(
    "splits", metadata,
    sa.Column("manifest_sha256", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("definition_json", sa.Text, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("submission_id", sa.String(32), nullable=True),
    sa.Column("detail_json", sa.Text, nullable=False),
)


class UnknownSubmissionError(LongVGenBenchError):
    """No submission has this id."""


@dataclass(frozen=True)
class Entry:
    """One stored submission, as the pages and the API show it."""

    id: str
    content_sha256: str
    model: str
    split_name: str
    split_manifest_sha256: str
    status: str
    hidden: bool
    submitted_at: str
    results: Results
    video_sha256: Mapping[str, str]


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: str
    actor: str
    action: str
    submission_id: str | None
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Stored:
    """The outcome of storing: the entry, and whether it was already there (same content)."""

    entry: Entry
    created: bool


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def default_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class Store:
    """All reads and writes of the leaderboard database."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_sqlite = url.startswith("sqlite")
        self.engine: Engine = sa.create_engine(url, connect_args={"timeout": 30} if is_sqlite else {},
                                               pool_pre_ping=not is_sqlite)
        if is_sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # splits -----------------------------------------------------------------------------------
    def add_split(self, definition: SplitDefinition, actor: str = "admin") -> None:
        text = json.dumps(definition.to_json(), sort_keys=True)
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(splits.c.definition_json).where(
                splits.c.manifest_sha256 == definition.manifest_sha256)).scalar_one_or_none()
            if existing == text:
                return
            if existing is None:
                conn.execute(sa.insert(splits).values(manifest_sha256=definition.manifest_sha256,
                                                      name=definition.name, definition_json=text))
            else:
                conn.execute(sa.update(splits).where(splits.c.manifest_sha256 == definition.manifest_sha256)
                             .values(name=definition.name, definition_json=text))
            self._audit(conn, actor, "register_split", None,
                        {"split": definition.name, "manifest_sha256": definition.manifest_sha256,
                         "videos": len(definition.videos)})

    def splits(self) -> dict[str, SplitDefinition]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(splits.c.definition_json)).scalars().all()
        defs = [SplitDefinition.from_json(json.loads(text)) for text in rows]
        return {d.manifest_sha256: d for d in defs}

    # submissions ------------------------------------------------------------------------------
    def add_submission(self, doc: SubmissionDocument, verdict: Verdict, actor: str = "public") -> Stored:
        """Store an accepted submission (idempotent by content sha256)."""
        if not verdict.accepted or verdict.results is None:
            raise ValueError("only accepted submissions are stored")
        results = verdict.results
        new_id = uuid.uuid4().hex
        try:
            with self.engine.begin() as conn:  # the first statement writes: no read-then-write upgrade
                conn.execute(sa.insert(submissions).values(
                    id=new_id, content_sha256=verdict.content_sha256, model=results.model, split_name=results.split,
                    split_manifest_sha256=results.split_manifest_sha256, status=SELF_REPORTED, hidden=False,
                    submitted_at=_now(), results_json=doc.results_json, samples_jsonl=doc.samples_jsonl,
                    video_sha256_json=json.dumps(dict(doc.video_sha256), sort_keys=True),
                ))
                self._audit(conn, actor, "submit", new_id, {"model": results.model, "split": results.split,
                                                            "content_sha256": verdict.content_sha256})
            return Stored(self.get(new_id), created=True)
        except IntegrityError:
            with self.engine.connect() as conn:
                existing = conn.execute(sa.select(submissions.c.id).where(
                    submissions.c.content_sha256 == verdict.content_sha256)).scalar_one_or_none()
            if existing is None:
                raise
            return Stored(self.get(existing), created=False)

    def _entry(self, row: Any) -> Entry:
        return Entry(id=row.id, content_sha256=row.content_sha256, model=row.model, split_name=row.split_name,
                     split_manifest_sha256=row.split_manifest_sha256, status=row.status, hidden=bool(row.hidden),
                     submitted_at=row.submitted_at, results=results_from_dict(json.loads(row.results_json)),
                     video_sha256=json.loads(row.video_sha256_json))

    _COLUMNS = (submissions.c.id, submissions.c.content_sha256, submissions.c.model, submissions.c.split_name,
                submissions.c.split_manifest_sha256, submissions.c.status, submissions.c.hidden,
                submissions.c.submitted_at, submissions.c.results_json, submissions.c.video_sha256_json)

    def get(self, submission_id: str) -> Entry:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*self._COLUMNS).where(submissions.c.id == submission_id)).first()
        if row is None:
            raise UnknownSubmissionError(f"no submission with id {submission_id!r}")
        return self._entry(row)

    def samples(self, submission_id: str) -> str:
        with self.engine.connect() as conn:
            text = conn.execute(sa.select(submissions.c.samples_jsonl).where(
                submissions.c.id == submission_id)).scalar_one_or_none()
        if text is None:
            raise UnknownSubmissionError(f"no submission with id {submission_id!r}")
        return text

    def entries(self, include_hidden: bool = False) -> list[Entry]:
        query = sa.select(*self._COLUMNS).order_by(submissions.c.submitted_at, submissions.c.id)
        if not include_hidden:
            query = query.where(submissions.c.hidden.is_(False))
        with self.engine.connect() as conn:
            return [self._entry(row) for row in conn.execute(query)]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(submissions)).scalar_one())

    # admin ------------------------------------------------------------------------------------
    def set_status(self, submission_id: str, *, status: str | None = None, hidden: bool | None = None,
                   actor: str = "admin") -> Entry:
        values: dict[str, Any] = {}
        if status is not None:
            if status not in (SELF_REPORTED, VERIFIED):
                raise ValueError(f"status must be {SELF_REPORTED!r} or {VERIFIED!r}")
            values["status"] = status
        if hidden is not None:
            values["hidden"] = hidden
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(submissions).where(submissions.c.id == submission_id).values(**values))
            if done.rowcount == 0:
                raise UnknownSubmissionError(f"no submission with id {submission_id!r}")
            action = "verify" if status == VERIFIED else "unverify" if status else "hide" if hidden else "unhide"
            self._audit(conn, actor, action, submission_id, values)
        return self.get(submission_id)

    def delete(self, submission_id: str, actor: str = "admin") -> None:
        entry = self.get(submission_id)
        with self.engine.begin() as conn:
            done = conn.execute(sa.delete(submissions).where(submissions.c.id == submission_id))
            if done.rowcount == 0:
                raise UnknownSubmissionError(f"no submission with id {submission_id!r}")
            self._audit(conn, actor, "delete", submission_id,
                        {"model": entry.model, "content_sha256": entry.content_sha256})

    def _audit(self, conn: Any, actor: str, action: str, submission_id: str | None, detail: Mapping[str, Any]) -> None:
        conn.execute(sa.insert(audit_log).values(at=_now(), actor=actor, action=action, submission_id=submission_id,
                                                 detail_json=json.dumps(dict(detail), sort_keys=True)))

    def audit(self) -> list[AuditRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).all()
        return [AuditRecord(r.id, r.at, r.actor, r.action, r.submission_id, json.loads(r.detail_json)) for r in rows]

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check (True for other databases, which check themselves)."""
        if not self.url.startswith("sqlite"):
            return True
        with self.engine.connect() as conn:
            return conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
