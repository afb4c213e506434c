from django.urls import path

from gateway import pages, playground

app_name = "gateway"

urlpatterns = [
    path("settings/usage/", pages.usage, name="usage"),
    path("settings/usage.csv", pages.usage_csv, name="usage-csv"),
    path("api/schema/", pages.api_schema, name="api-schema"),
    path("docs/api/", pages.api_reference, name="api-reference"),
    path("playground/", playground.playground, name="playground"),
    path("playground/token", playground.token, name="playground-token"),
]
