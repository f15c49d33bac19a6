from django.db import migrations

from pg_reporting.operations import RunSQLFiles


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        RunSQLFiles("sql/extension.up.sql", "sql/extension.down.sql"),
    ]
