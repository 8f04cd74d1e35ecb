"""Public tracking numbers of issues: 20261206-000123, the Beijing day and its sequence.

Never the database id: numbers must not reveal how many issues exist overall, and residents
read them out on the phone.

On PostgreSQL each Beijing day has a sequence of its own (`issue_no_20261206`), drawn from
inside the INSERT of the issue: no lock is held until commit and no statement is added, so
submissions never queue on a counter. A rolled-back submission leaves a gap, which is
harmless. The day's sequence is created on first use, starting after any number of that day
already given (by the counter table of earlier versions, or by an issue imported by hand).
SQLite serialises writers anyway: there the day's row of `issue_number_counter` is incremented
in the request's transaction.
"""
from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta

from sqlalchemy import Text, bindparam, cast, func, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import IntegrityError, ProgrammingError
from sqlalchemy.sql.elements import ColumnElement

from backend.extensions import own_transaction
from models import Issue, IssueNumberCounter, db

_WIDTH = 6
_known_sequences: set[tuple[str, str]] = set()  # (database URL, sequence name) this process saw
_lock = threading.Lock()


def sequence_name(day: date) -> str:
    return f"issue_no_{day:%Y%m%d}"


# On PostgreSQL: the day's prefix and the next value of the day's sequence, drawn inside the
# INSERT. One object for every day, so the INSERT using it is built once (backend/rows.py).
DRAWN_NUMBER = bindparam("no_prefix", type_=Text) + func.lpad(
    cast(func.nextval(cast(bindparam("no_sequence", type_=Text), REGCLASS)), Text), _WIDTH, "0")


def number_for(day: date) -> tuple[dict[str, ColumnElement], dict[str, object]]:
    """How to fill `Issue.no` for a new issue of `day`, as `backend.rows.insert_row(issue,
    sql, **params)` takes it: on PostgreSQL drawn inside the INSERT, elsewhere the number."""
    prefix = f"{day:%Y%m%d}-"
    if db.engine.dialect.name != "postgresql":
        return {}, {"no": prefix + f"{_increment_counter(day):0{_WIDTH}d}"}
    _ensure_sequence(day)
    return {"no": DRAWN_NUMBER}, {"no_prefix": prefix, "no_sequence": sequence_name(day)}


def _increment_counter(day: date) -> int:
    statement = (sqlite.insert(IssueNumberCounter).values(day=day, last=1)
                 .on_conflict_do_update(index_elements=[IssueNumberCounter.day],
                                        set_={"last": IssueNumberCounter.last + 1})
                 .returning(IssueNumberCounter.last))
    return db.session.execute(statement).scalar_one()


def _ensure_sequence(day: date) -> None:
    name = sequence_name(day)
    known = (str(db.engine.url), name)
    if known in _known_sequences:
        return
    with _lock:
        if known in _known_sequences:
            return
        with own_transaction() as connection:
            prefix = f"{day:%Y%m%d}-"
            last_issued = connection.scalar(db.select(func.max(Issue.no)).where(
                Issue.no >= prefix, Issue.no < f"{day + timedelta(days=1):%Y%m%d}-"))
            last_counted = connection.scalar(db.select(IssueNumberCounter.last).where(IssueNumberCounter.day == day))
            start = max(int(last_issued[len(prefix):]) if last_issued else 0, last_counted or 0) + 1
            try:
                connection.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {start}"))
            except (IntegrityError, ProgrammingError):
                # Another process created it at the same moment (PostgreSQL's IF NOT EXISTS is
                # not race-free): it exists, which is all we need.
                pass
        _known_sequences.add(known)



_SEQUENCE_NAME = re.compile(r"issue_no_([0-9]{8})")


def day_of_sequence(name: str) -> date | None:
    """The day whose numbers the sequence `name` draws, or None for any other name."""
    match = _SEQUENCE_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        day = datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    return day if sequence_name(day) == name else None


def drop_sequences_before(day: date) -> list[str]:
    """PostgreSQL: drop the number sequences of the days before `day` (nobody draws a number of
    a past day), in the current transaction; returns their names. Only names that are exactly a
    day's sequence are touched. Elsewhere there are none: returns []."""
    if db.engine.dialect.name != "postgresql":
        return []
    names = db.session.scalars(text(
        "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() "
        "AND sequencename LIKE 'issue_no_%' ORDER BY sequencename")).all()
    dropped = []
    for name in names:
        seq_day = day_of_sequence(name)
        if seq_day is None or seq_day >= day:
            continue
        # `name` is issue_no_ and eight digits (checked above): safe to write into the statement.
        db.session.execute(text(f"DROP SEQUENCE IF EXISTS {name}"))
        dropped.append(name)
    with _lock:
        url = str(db.engine.url)
        for name in dropped:
            _known_sequences.discard((url, name))
    return dropped
