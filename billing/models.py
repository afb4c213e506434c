"""The credit ledger. Amounts are integers in micro-credits (1 credit = 1,000,000 micros).

Invariant: an account's balance equals the sum of its entries' amounts, always. Only
billing/ledger.py writes these tables.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
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
    # A white-label request holds twice: the customer's hold at the brand's price, and this
    # wholesale hold on the reseller's account at the operator's price, which `backs` it. The
    # ledger reserves, settles and releases the two together, in one transaction.
    backs = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="wholesale",
        editable=False,
    )  # fmt: skip

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


class Offer(models.Model):
    """What a plan and a credit pack share: a price in the currency's smallest unit (cents),
    the credits it buys, and the Stripe product and price that sell it (written by
    `manage.py sync_stripe_products`, never by hand)."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    price_cents = models.PositiveIntegerField(help_text="In the currency's smallest unit.")
    currency = models.CharField(max_length=3, default="usd")
    credits_micros = models.BigIntegerField(
        help_text="Credits granted (per period, for a plan), in micro-credits."
    )
    active = models.BooleanField(default=True, help_text="Offered to customers.")
    sort_order = models.PositiveIntegerField(default=0)
    stripe_product_id = models.CharField(max_length=255, blank=True, editable=False)
    stripe_price_id = models.CharField(max_length=255, blank=True, editable=False, db_index=True)

    class Meta:
        abstract = True
        ordering = ("sort_order", "price_cents")

    def __str__(self) -> str:
        return self.name

    @property
    def lookup_key(self) -> str:
        """The Stripe price's lookup key: stable across price changes."""
        return f"reapi-{self._meta.model_name}-{self.slug}"

    def clean(self) -> None:
        if self.credits_micros is not None and self.credits_micros <= 0:
            raise ValidationError({"credits_micros": "Must be a positive number of micro-credits."})
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValidationError({"currency": "A three-letter ISO currency code, e.g. usd."})
        self.currency = self.currency.lower()


class Plan(Offer):
    """A subscription: billed every interval until cancelled; each paid period grants its
    credits once. Its limits become the subscriber's defaults."""

    class Interval(models.TextChoices):
        MONTH = "month", "Monthly"
        YEAR = "year", "Yearly"

    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTH)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(null=True, blank=True)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)

    class Meta(Offer.Meta):
        pass


class CreditPack(Offer):
    """Credits bought once; they never expire while the account is active."""

    class Meta(Offer.Meta):
        pass


class PaymentIssue(models.Model):
    """Something Stripe told us about money already paid or owed: a failed renewal, a
    refund, a dispute. One row per Stripe object (webhooks repeat); an open issue flags the
    account on its Billing page and in admin."""

    class Kind(models.TextChoices):
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        REFUND = "refund", "Refund"
        DISPUTE = "dispute", "Dispute"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payment_issues"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    stripe_id = models.CharField(max_length=255, unique=True)
    amount_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    credits_removed_micros = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.stripe_id}"
