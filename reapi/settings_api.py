"""Settings of an API-only process (`python -m reapi.serve --role api`; docs/deploy.md, "An
API-only pool"): /v1 and what load balancers, Prometheus and asset links need
(reapi/urls_api.py), without the apps only pages use: the admin, sign-in (allauth), Stripe
(dj-stripe and the stripe SDK its models load), DRF and the page middleware. About 20 MiB
less per worker, measured in bench/. Money, keys, limits and catalog are the same models and
rules. Management commands and Celery keep reapi.settings: migrations need every app."""

from reapi.settings import *  # noqa: F403
from reapi.settings import INSTALLED_APPS

PAGE_ONLY_APPS = {
    "django.contrib.admin", "django.contrib.sessions", "django.contrib.messages",
    "whitenoise.runserver_nostatic", "django.contrib.staticfiles", "django.contrib.humanize",
    "allauth", "allauth.account", "rest_framework", "djstripe", "content",
}  # fmt: skip
INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in PAGE_ONLY_APPS]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # nothing here takes a form; kept anyway
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "reapi.urls_api"
