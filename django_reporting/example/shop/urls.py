"""URLs of the example project: the two report endpoints."""

from django.urls import path

from sales import views

urlpatterns = [
    path("api/revenue/daily", views.daily_revenue, name="daily-revenue"),
    path("api/sales/90d", views.sales_90d, name="sales-90d"),
]
