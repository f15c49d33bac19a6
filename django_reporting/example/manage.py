#!/usr/bin/env python3
"""The example project's manage.py (Django's own, plus the companion app on the path)."""
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # the companion app lives one directory up (django_reporting/pg_reporting)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
