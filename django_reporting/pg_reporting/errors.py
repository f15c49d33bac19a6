"""Exceptions raised by pg_reporting, carrying the PostgreSQL SQLSTATE.

Django wraps psycopg2's errors; the SQLSTATE is on ``exc.__cause__.pgcode``.
These exceptions put it on ``.sqlstate`` and keep the server's message,
detail and hint.
"""


class ReportingError(Exception):
    """An error the extension (or PostgreSQL) raised; ``sqlstate`` says which."""

    def __init__(self, message, sqlstate=None, detail=None, hint=None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint


class ReportNotFresh(ReportingError):
    """A report is staler than allowed (the extension's RP001)."""


def from_database_error(exc):
    """The ReportingError for a django.db.DatabaseError (SQLSTATE from its cause)."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "pgcode", None)
    diag = getattr(cause, "diag", None)
    message = getattr(diag, "message_primary", None) or str(exc).strip()
    kind = ReportNotFresh if sqlstate == "RP001" else ReportingError
    return kind(message, sqlstate=sqlstate,
                detail=getattr(diag, "message_detail", None),
                hint=getattr(diag, "message_hint", None))
