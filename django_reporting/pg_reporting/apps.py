"""App configuration: label pg_reporting (never clashes with an app called reporting)."""

from django.apps import AppConfig


class PgReportingConfig(AppConfig):
    name = "pg_reporting"
    label = "pg_reporting"
    verbose_name = "PostgreSQL reporting extension"
