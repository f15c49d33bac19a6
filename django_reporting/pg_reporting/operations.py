"""Migration operations for reports kept in .sql files.

    from pg_reporting.operations import RunSQLFiles, RegisterReport, RedefineReport

    operations = [
        RunSQLFiles("sql/daily_revenue.up.sql", "sql/daily_revenue.down.sql"),
        RegisterReport("reporting_daily_revenue", every="5 minutes"),
        RedefineReport("reporting_daily_revenue", "sql/daily_revenue_v2.sql",
                       reverse="sql/daily_revenue_v1.sql"),
    ]

Relative paths are read from the migration's app directory when the
migration runs (not when it is imported).  Every operation is reversible
when given what to go back to, and none changes Django's model state
(reports are unmanaged models, or no models at all).
"""

from pathlib import Path

from django.apps import apps as global_apps
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.operations.base import Operation

# reporting.register()'s arguments besides the view, with their SQL types
REGISTER_ARGUMENTS = {
    "every": "interval", "cron": "text", "timezone": "text", "mode": "text",
    "refresh_when": "text", "max_age": "interval", "lock_timeout": "interval",
    "statement_timeout": "interval", "refresh": "text",
}


def read_sql(app_label, path):
    """The text of ``path``, relative to app ``app_label``'s directory unless absolute."""
    path = Path(path)
    if not path.is_absolute():
        path = Path(global_apps.get_app_config(app_label).path) / path
    return path.read_text(encoding="utf-8")


def is_empty_sql(sql):
    """Whether ``sql`` holds only blank lines and -- comments."""
    return all(not line.strip() or line.strip().startswith("--") for line in sql.splitlines())


class RunSQLFiles(Operation):
    """Run an .up.sql file forwards and its .down.sql file backwards.

    up, down: paths (str or Path), relative to the app's directory.  Without
    ``down`` the operation is irreversible.  A file with only comments does
    nothing (a down file may say why nothing is undone).
    """

    reduces_to_sql = True
    atomic = True

    def __init__(self, up, down=None):
        self.up = str(up)
        self.down = None if down is None else str(down)
        self.reversible = down is not None

    def deconstruct(self):
        kwargs = {} if self.down is None else {"down": self.down}
        return (self.__class__.__name__, [self.up], kwargs)

    def state_forwards(self, app_label, state):
        pass

    def _run(self, app_label, schema_editor, path):
        sql = read_sql(app_label, path)
        if not is_empty_sql(sql):
            schema_editor.execute(sql, params=None)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._run(app_label, schema_editor, self.up)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.down is None:
            raise IrreversibleError("RunSQLFiles(%r) has no down file" % self.up)
        self._run(app_label, schema_editor, self.down)

    def describe(self):
        return "Run SQL file %s" % self.up


class RegisterReport(Operation):
    """reporting.register(view, ...) forwards, reporting.unregister(view) backwards.

    view: the materialized view's name; the keyword arguments are those of
    reporting.register() (every, cron, timezone, mode, refresh_when,
    max_age, lock_timeout, statement_timeout, refresh), as strings
    ("5 minutes").  The extension's errors (22023 for a bad schedule, 42501
    when not the owner, ...) stop the migration.
    """

    reduces_to_sql = True
    reversible = True
    atomic = True

    def __init__(self, view, **settings):
        unknown = set(settings) - set(REGISTER_ARGUMENTS)
        if unknown:
            raise TypeError("RegisterReport got unknown arguments: %s" % ", ".join(sorted(unknown)))
        self.view = view
        self.settings = settings

    def deconstruct(self):
        return (self.__class__.__name__, [self.view], dict(self.settings))

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        names = sorted(self.settings)
        sql = "SELECT reporting.register(%s::regclass" + "".join(
            ", %s => %%s::%s" % (name, REGISTER_ARGUMENTS[name]) for name in names) + ")"
        schema_editor.execute(sql, [self.view] + [self.settings[name] for name in names])

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        schema_editor.execute("SELECT reporting.unregister(%s::regclass)", [self.view])

    def describe(self):
        return "Register report %s" % self.view


class RedefineReport(Operation):
    """reporting.redefine(view, query) with the query read from a .sql file.

    The report keeps its registration, history, grants, comments, indexes
    and the views built on it; readers are blocked only from the swap to the
    end of the migration's transaction.  reverse: the file of the previous
    query, to go back (irreversible without it).
    """

    reduces_to_sql = True
    atomic = True

    def __init__(self, view, sql, reverse=None):
        self.view = view
        self.sql = str(sql)
        self.reverse = None if reverse is None else str(reverse)
        self.reversible = reverse is not None

    def deconstruct(self):
        kwargs = {} if self.reverse is None else {"reverse": self.reverse}
        return (self.__class__.__name__, [self.view, self.sql], kwargs)

    def state_forwards(self, app_label, state):
        pass

    def _redefine(self, app_label, schema_editor, path):
        schema_editor.execute("SELECT reporting.redefine(%s::regclass, %s)",
                              [self.view, read_sql(app_label, path)])

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._redefine(app_label, schema_editor, self.sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self.reverse is None:
            raise IrreversibleError("RedefineReport(%r) has no reverse query" % self.view)
        self._redefine(app_label, schema_editor, self.reverse)

    def describe(self):
        return "Redefine report %s from %s" % (self.view, self.sql)
