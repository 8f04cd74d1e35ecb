"""Public tracking numbers of issues: 20261206-000123, the Beijing day and its sequence.

Never the database id: numbers must not reveal how many issues exist overall, and residents
read them out on the phone.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy.dialects import postgresql, sqlite

from models import IssueNumberCounter, db


def _increment(day: date):
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return (dialect.insert(IssueNumberCounter).values(day=day, last=1)
            .on_conflict_do_update(index_elements=[IssueNumberCounter.day],
                                   set_={"last": IssueNumberCounter.last + 1})
            .returning(IssueNumberCounter.last))


def next_issue_no(day: date) -> str:
    """The next number of `day`.

    On PostgreSQL it is taken by one autocommitted statement on a connection of its own, so the
    day's counter row is locked for that statement, not for the rest of the submitting request
    (a rolled-back submission leaves a gap, which is harmless). SQLite serialises writers
    anyway, so it uses the request's own transaction.
    """
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            sequence = connection.execute(_increment(day)).scalar_one()
    else:
        sequence = db.session.execute(_increment(day)).scalar_one()
    return f"{day:%Y%m%d}-{sequence:06d}"
