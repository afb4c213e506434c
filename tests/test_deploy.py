"""Production settings: `check --deploy` is clean with PRODUCTION=true, and the health
probes are not redirected to HTTPS while everything else is."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from django.test import Client

ROOT = Path(__file__).resolve().parents[1]


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reapi.settings",
        "PRODUCTION": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "api.example.com",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_in_production():
    result = check_deploy(SECRETS_ENCRYPTION_KEYS=secrets.token_urlsafe(48))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_for_an_api_only_process():
    result = check_deploy(
        DJANGO_SETTINGS_MODULE="reapi.settings_api",
        SECRETS_ENCRYPTION_KEYS=secrets.token_urlsafe(48),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_asks_for_keys_of_its_own_to_seal_secrets():
    """Without SECRETS_ENCRYPTION_KEYS, rotating SECRET_KEY would lock the stored provider
    keys away; a short key is weak. Both are named, the keys themselves never."""
    missing = check_deploy(SECRETS_ENCRYPTION_KEYS="")
    assert missing.returncode != 0 and "reapi.W001" in missing.stdout + missing.stderr
    short = check_deploy(SECRETS_ENCRYPTION_KEYS=f"{secrets.token_urlsafe(48)},tooshort-123")
    out = short.stdout + short.stderr
    assert short.returncode != 0 and "reapi.W002" in out and "tooshort-123" not in out


def test_probes_stay_on_http_while_pages_redirect(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    answer = Client().get("/models/")
    assert answer.status_code == 301 and answer["Location"].startswith("https://")


def test_env_example_lists_every_variable_the_settings_read():
    """`.env.example` says it lists every variable reAPI reads, with its default."""
    read = set(re.findall(r'env_(?:str|int|bool|list)\(\s*"([A-Z0-9_]+)"',
                          (ROOT / "reapi" / "settings.py").read_text()))  # fmt: skip
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert len(read) > 40
    assert read - listed == set()
