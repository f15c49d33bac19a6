"""The example's sales app: orders (Django models) and their reports (SQL files)."""

from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "sales"
    default_auto_field = "django.db.models.BigAutoField"
