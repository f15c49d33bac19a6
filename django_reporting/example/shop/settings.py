"""Settings of the example project: a shop whose reports are SQL files.

The database comes from the environment (libpq's PG* variables), so that
scripts/test can point it at a throwaway server:

    PGHOST, PGPORT      the server (a socket directory or a host name)
    SHOP_DB_NAME        the application's database (default: shop)
    SHOP_DB_USER        its role, a NON-superuser with CREATEDB (default: shop)
    SHOP_DB_PASSWORD    its password, if the server asks for one
    SHOP_DB_TEMPLATE    the template the test database is copied from, with
                        the extension installed by a superuser (default:
                        shop_template); see the README's "Test databases
                        without a superuser"
"""

import os

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "shop.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "pg_reporting",
    "sales",
]

MIDDLEWARE = []

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SHOP_DB_NAME", "shop"),
        "USER": os.environ.get("SHOP_DB_USER", "shop"),
        "PASSWORD": os.environ.get("SHOP_DB_PASSWORD", ""),
        "HOST": os.environ.get("PGHOST", ""),
        "PORT": os.environ.get("PGPORT", ""),
        "ATOMIC_REQUESTS": True,
        "TEST": {
            "TEMPLATE": os.environ.get("SHOP_DB_TEMPLATE", "shop_template"),
        },
    }
}

# pause the scheduler in the test database: reports change only when a test refreshes them
TEST_RUNNER = "pg_reporting.testing.ReportingTestRunner"
