from django.contrib import admin
from django.urls import include, path

from brands import reseller
from gateway import pages as gateway_pages
from gateway import web as gateway_web
from reapi import ops, views

admin.site.site_header = "reAPI staff"
admin.site.site_title = "reAPI staff"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics_view, name="metrics"),
    path(
        "admin/dashboard/",
        admin.site.admin_view(gateway_pages.staff_dashboard),
        name="staff-dashboard",
    ),  # fmt: skip
    path("admin/", admin.site.urls),
    path("reseller/", reseller.site.urls),  # a white-label brand's owner (brands/reseller.py)
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("accounts.urls")),
    path("", include("billing.urls")),
    path("", include("catalog.urls")),
    path("", include("gateway.urls")),
    path("", include("content.urls")),
    path("", include("brands.urls")),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("files/<uuid:asset_id>", gateway_web.file, name="asset-file"),
]
