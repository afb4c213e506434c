"""Create the demo customer with credits and an API key (used by `make run`). Idempotent."""

from __future__ import annotations

import os
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import keys
from accounts.models import User
from billing import ledger
from brands.models import Brand

DEMO_EMAIL = "demo@reapi.local"
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105  (the published demo login)
DEMO_CREDITS = 10_000  # $10
RESELLER_EMAIL = "reseller@reapi.local"


@transaction.atomic
def _funded_account(email: str) -> User:
    """An account of our own site with a verified email and DEMO_CREDITS, granted once."""
    user = User.objects.filter(email=email, brand=None).first()
    if user is None:
        user = User.objects.create_user(email, DEMO_PASSWORD)
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    ledger.grant(
        ledger.account_for(user), amount_micros=DEMO_CREDITS * 1_000_000,
        idempotency_key=f"demo-grant:{user.pk}", memo="Demo credits",
    )  # fmt: skip
    return user


class Command(BaseCommand):
    help = "Create (or reuse) the demo user, grant it credits once, and print an API key."

    def handle(self, *args: object, **options: object) -> None:
        key_file: Path = settings.VAR_DIR / "demo_api_key"
        user = _funded_account(DEMO_EMAIL)
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
        self._demo_brand()

    def _demo_brand(self) -> None:
        """A white-label brand to look at (docs/white-label.md): Acme AI on acme.localhost,
        which browsers resolve to this machine, resold by a demo reseller at 25 %."""
        with transaction.atomic():
            reseller = _funded_account(RESELLER_EMAIL)
            Brand.objects.get_or_create(
                owner=reseller,
                defaults={"slug": "acme", "name": "Acme AI", "domain": "acme.localhost",
                          "support_email": "help@acme.localhost", "markup_bp": 2500,
                          "primary_color": "#b4451f", "disclose_operator": True},
            )  # fmt: skip
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            f"White-label demo: http://acme.localhost:{port}/ (Acme AI, our prices + 25 %); "
            f"its reseller console: http://127.0.0.1:{port}/reseller/ as {RESELLER_EMAIL} / "
            f"{DEMO_PASSWORD}"
        )
