from django.urls import path

from gateway import pages, playground

app_name = "gateway"

urlpatterns = [
    path("settings/usage/", pages.usage, name="usage"),
    path("settings/usage.csv", pages.usage_csv, name="usage-csv"),
    path("playground/", playground.playground, name="playground"),
    path("playground/token", playground.token, name="playground-token"),
]
