"""Customers and orders are ordinary Django models; the reports are
materialized views defined in sql/ and read through unmanaged models."""

from django.db import models


class Customer(models.Model):
    REGIONS = [("emea", "EMEA"), ("amer", "Americas"), ("apac", "APAC"), ("latam", "LATAM")]
    name = models.TextField()
    region = models.TextField(choices=REGIONS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "customers"


class Order(models.Model):
    STATUSES = [("paid", "paid"), ("pending", "pending"), ("failed", "failed"), ("refunded", "refunded")]
    customer = models.ForeignKey(Customer, null=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(db_index=True)
    total_cents = models.BigIntegerField()
    status = models.TextField(choices=STATUSES)

    class Meta:
        db_table = "orders"


class DailyRevenue(models.Model):
    """sql/daily_revenue_v2.sql: paid orders per day."""
    day = models.DateField(primary_key=True)
    order_count = models.BigIntegerField()
    revenue_cents = models.BigIntegerField()
    average_order_cents = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "reporting_daily_revenue"


class SalesReport(models.Model):
    """example/migrations/0004_sales_report_mv.up.sql: the last 90 days, with a 7-day rolling revenue."""
    day = models.DateField(primary_key=True)
    paid_order_count = models.BigIntegerField()
    revenue_cents = models.BigIntegerField()
    rolling_7d_revenue_cents = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "reporting_sales_90d"
