"""Production settings: `check --deploy` is clean with PRODUCTION=true, and the health
probes are not redirected to HTTPS while everything else is."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.test import Client

ROOT = Path(__file__).resolve().parents[1]


def test_check_deploy_is_clean_in_production():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reapi.settings",
        "PRODUCTION": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "api.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_probes_stay_on_http_while_pages_redirect(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    answer = Client().get("/models/")
    assert answer.status_code == 301 and answer["Location"].startswith("https://")
