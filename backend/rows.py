"""New rows written by one Core statement each, for the few hot paths where the ORM's unit of
work costs more than the rest of the request (issue submission).

The object is built as usual, then inserted with INSERT … RETURNING; what the database stored
(ids, defaults, values drawn from sequences) is set back on it, so it answers like a loaded
object. It stays out of the session: relationships it shows must be set by the caller, and
nothing is lazy-loaded. The cache generations its flush would have bumped are noted as the
flush hooks would (tagged_cache.note_object).

Statements are built once and the values passed as parameters: building an INSERT with its
values inlined costs more CPU than sending it.
"""
from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Insert, insert, inspect
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnElement

from backend.caches import tagged_cache
from models import db

T = TypeVar("T")


# (table, ((column, id(expression)), …)) → the INSERT. A statement holds its expressions, so
# their ids stay unique while cached; callers pass module-level expressions, so this stays small.
_statements: dict[tuple, Insert] = {}


def insert_row(obj: T, sql: dict[str, ColumnElement] | None = None, **params) -> T:
    """Insert `obj`'s column values and return it filled with what was stored.

    Unset columns take their defaults. `params` gives some columns their value instead, and
    `sql` an SQL expression — a constant object, whose bound parameters come in `params` too.
    """
    sql = sql or {}
    mapper = inspect(type(obj))
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.key in sql or column.key in params:
            continue
        value = obj.__dict__.get(prop.key)
        if value is not None or (column.default is None and not column.primary_key):
            params[column.key] = value
    table = mapper.local_table
    key = (table, tuple(sorted((name, id(expression)) for name, expression in sql.items())))
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = insert(table).values(sql).returning(*table.columns)
    row = db.session.connection().execute(statement, params).one()
    for prop in mapper.column_attrs:
        set_committed_value(obj, prop.key, row._mapping[prop.columns[0]])
    tagged_cache.note_object(db.session, obj)
    return obj
