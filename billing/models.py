"""The credit ledger. Amounts are integers in micro-credits (1 credit = 1,000,000 micros).

Invariant: an account's balance equals the sum of its entries' amounts, always. Only
billing/ledger.py writes these tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CreditAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account"
    )
    # Available credits: what the user may still spend (open holds are already taken out).
    balance_micros = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance_micros__gte=0), name="credit_account_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Credits of {self.user}"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        PURCHASE = "purchase", "Purchase"
        SUBSCRIPTION = "subscription", "Subscription credit"
        HOLD = "hold", "Hold"
        SETTLE = "settle", "Settle (unused part of a hold returned)"
        RELEASE = "release", "Release (hold returned in full)"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Staff adjustment"
        EXPIRY = "expiry", "Expiry"

    # Indexes are kept to what is read (every one costs each request a write): the
    # (account, -id) index below serves the account's lookups, so the FK needs none.
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount_micros = models.BigIntegerField(help_text="Signed: positive adds credits.")
    balance_after_micros = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    # What the entry is about: a request id, a Stripe object id, a hold id.
    reference = models.CharField(max_length=200, blank=True, db_index=True)
    memo = models.CharField(max_length=300, blank=True)
    hold = models.ForeignKey(
        "Hold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff member behind an adjustment.",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-id"], name="entry_account_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_micros:+d} µ ({self.idempotency_key})"


class Hold(models.Model):
    """Credits set aside for one request or job until it is settled or released."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        SETTLED = "settled", "Settled"
        RELEASED = "released", "Released"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="holds")
    request_id = models.CharField(max_length=100, unique=True)
    amount_micros = models.BigIntegerField()
    charged_micros = models.BigIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    model_slug = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()  # the partial index below covers open holds
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="hold_open_by_expiry",
                condition=models.Q(state="open"),
            )
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_micros__gt=0), name="hold_positive"),
            models.CheckConstraint(
                condition=models.Q(charged_micros__gte=0)
                & models.Q(charged_micros__lte=models.F("amount_micros")),
                name="hold_charge_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold {self.request_id} ({self.state})"
