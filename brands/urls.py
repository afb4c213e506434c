from django.urls import path

from brands import views

app_name = "brands"

urlpatterns = [
    path("settings/billing/buy/brand-pack/<int:pack_id>/", views.buy_pack, name="buy-pack"),
    path("stripe/brand/<slug:slug>/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
