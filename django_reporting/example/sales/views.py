"""The report endpoints: JSON, 503 with Retry-After when the report is stale."""

from datetime import timedelta

from django.http import JsonResponse

from pg_reporting.decorators import require_fresh

from .models import DailyRevenue, SalesReport


@require_fresh("reporting_daily_revenue", within=timedelta(minutes=10))
def daily_revenue(request):
    """Paid revenue per day, the last 30 days of the report."""
    rows = DailyRevenue.objects.order_by("-day")[:30]
    return JsonResponse({"days": [
        {"day": r.day.isoformat(), "orders": r.order_count, "revenue_cents": r.revenue_cents,
         "average_order_cents": r.average_order_cents} for r in rows]})


@require_fresh("reporting_sales_90d")
def sales_90d(request):
    """The 90-day sales report (no committed change may be missing)."""
    rows = SalesReport.objects.order_by("day")
    return JsonResponse({"days": [
        {"day": r.day.isoformat(), "orders": r.paid_order_count, "revenue_cents": r.revenue_cents,
         "rolling_7d_revenue_cents": r.rolling_7d_revenue_cents} for r in rows]})
