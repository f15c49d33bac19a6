from django.db import migrations, models

from pg_reporting.operations import RegisterReport, RunSQLFiles


class Migration(migrations.Migration):
    dependencies = [("sales", "0003_daily_revenue")]
    operations = [
        RunSQLFiles("../../../example/migrations/0004_sales_report_mv.up.sql",
                    "../../../example/migrations/0004_sales_report_mv.down.sql"),
        RegisterReport("reporting_sales_90d", cron="5 0 * * *", timezone="Europe/Berlin"),
        migrations.CreateModel(
            name="SalesReport",
            fields=[
                ("day", models.DateField(primary_key=True, serialize=False)),
                ("paid_order_count", models.BigIntegerField()),
                ("revenue_cents", models.BigIntegerField()),
                ("rolling_7d_revenue_cents", models.BigIntegerField()),
            ],
            options={"db_table": "reporting_sales_90d", "managed": False},
        ),
    ]
