from django.db import migrations, models

from pg_reporting.operations import RedefineReport


class Migration(migrations.Migration):
    """A new column in the daily revenue report: redefined in place, keeping
    its registration and history and the sales funnel built on it."""

    dependencies = [("sales", "0004_sales_90d")]
    operations = [
        RedefineReport("reporting_daily_revenue", "sql/daily_revenue_v2.sql",
                       reverse="sql/daily_revenue_v1.sql"),
        migrations.AddField(
            model_name="dailyrevenue",
            name="average_order_cents",
            field=models.BigIntegerField(default=0),
            preserve_default=False,
        ),
    ]
