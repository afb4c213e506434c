"""Create the demo customer with credits and an API key (used by `make run`). Idempotent."""

from __future__ import annotations

from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import keys
from accounts.models import User
from billing import ledger

DEMO_EMAIL = "demo@reapi.local"
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (the published demo login)
DEMO_CREDITS = 10_000  # $10


class Command(BaseCommand):
    help = "Create (or reuse) the demo user, grant it credits once, and print an API key."

    def handle(self, *args: object, **options: object) -> None:
        key_file: Path = settings.VAR_DIR / "demo_api_key"
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD)
            EmailAddress.objects.update_or_create(
                user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
            )
            ledger.grant(
                ledger.account_for(user),
                amount_micros=DEMO_CREDITS * 1_000_000,
                idempotency_key=f"demo-grant:{user.pk}",
                memo="Demo credits",
            )
        # Dev convenience only: the demo key is kept in the untracked var/ folder so that
        # `make run` prints the same working key every time. Real keys are never stored.
        raw = key_file.read_text().strip() if key_file.exists() else ""
        try:
            found = keys.authenticate(raw)
            if found.owner_id != user.pk:
                raise keys.InvalidKey("not the demo user's key")
        except keys.KeyAuthError:
            _, raw = keys.create(user, name="Demo key")
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(raw)
            key_file.chmod(0o600)
        balance = ledger.account_for(user).balance_micros // 1_000_000
        self.stdout.write(f"Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD} ({balance:,} credits)")
        self.stdout.write(f"API key: {raw}")
