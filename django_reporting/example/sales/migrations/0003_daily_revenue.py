from django.db import migrations, models

from pg_reporting.operations import RegisterReport, RunSQLFiles


class Migration(migrations.Migration):
    dependencies = [("sales", "0002_customers_orders")]
    operations = [
        # the worked example's own SQL files (the repository's example/), so both test the same report
        RunSQLFiles("../../../example/migrations/0003_daily_revenue_mv.up.sql",
                    "../../../example/migrations/0003_daily_revenue_mv.down.sql"),
        RegisterReport("reporting_daily_revenue", every="5 minutes"),
        migrations.CreateModel(
            name="DailyRevenue",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("order_count", models.BigIntegerField()),
                ("revenue_cents", models.BigIntegerField()),
            ],
            options={"db_table": "reporting_daily_revenue", "managed": False},
        ),
    ]
