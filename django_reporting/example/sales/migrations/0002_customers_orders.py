import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_extension")]
    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.TextField()),
                ("region", models.TextField(choices=[("emea", "EMEA"), ("amer", "Americas"), ("apac", "APAC"), ("latam", "LATAM")])),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "customers"},
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(db_index=True)),
                ("total_cents", models.BigIntegerField()),
                ("status", models.TextField(choices=[("paid", "paid"), ("pending", "pending"), ("failed", "failed"), ("refunded", "refunded")])),
                ("customer", models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, to="sales.customer")),
            ],
            options={"db_table": "orders"},
        ),
    ]
