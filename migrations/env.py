"""Alembic environment, run by Flask-Migrate (`flask --app wsgi db ...`) inside the app."""
import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name is not None and not logging.getLogger().handlers:
    # Only a process without logging takes alembic.ini's: the app (`flask db`, the devserver)
    # and pytest set theirs up first, and alembic.ini's root level (WARN) would silence their
    # INFO lines for good — the devserver's request lines among them. Existing loggers live on.
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine
config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
target_metadata = migrate_ext.db.metadata


def render_item(type_, obj, autogen_context):
    # Migrations must not import models (a later model change would break old revisions);
    # our UTCDateTime is a plain timezone-aware DateTime in the database.
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


# APScheduler's SQLAlchemyJobStore keeps its jobs in a table of its own. The scheduler uses the
# MemoryJobStore, so no such table exists; should one appear (someone tries the SQL store), it is
# APScheduler's to manage, never a migration's.
APSCHEDULER_TABLES = {"apscheduler_jobs"}


def include_object(obj, name, type_, reflected, compare_to):
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table not in APSCHEDULER_TABLES


def skip_empty_revision(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def options() -> dict:
    opts = dict(migrate_ext.configure_args)
    opts.setdefault("process_revision_directives", skip_empty_revision)
    opts.setdefault("render_item", render_item)
    opts.setdefault("include_object", include_object)
    opts.setdefault("render_as_batch", True)  # SQLite can only ALTER by copying tables
    opts.setdefault("compare_type", True)
    return opts


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, **options())
    with context.begin_transaction():
        context.run_migrations()
else:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **options())
        with context.begin_transaction():
            context.run_migrations()
