from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("settings/billing/", views.billing_page, name="page"),
    path("settings/billing/buy/pack/<slug:slug>/", views.buy, {"kind": "pack"}, name="buy-pack"),
    path("settings/billing/buy/plan/<slug:slug>/", views.buy, {"kind": "plan"}, name="buy-plan"),
    path("settings/billing/cancel/", views.cancel, name="cancel"),
    path("settings/billing/resume/", views.resume, name="resume"),
    path("settings/billing/change/<slug:slug>/", views.change, name="change"),
    path("settings/billing/portal/", views.portal, name="portal"),
    path("settings/billing/alert/", views.alert, name="alert"),
]
