from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from reapi.encryption import EncryptedCharField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def get_by_natural_key(self, email: str) -> User:
        """An email names one account per site; without a site, the operator's."""
        return self.get(email=email, brand__isnull=True)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A customer or a staff member; the email address is the login."""

    # Unique per site: among the operator's own customers, and within each brand (Meta).
    email = models.EmailField("email address")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # Set by staff; a suspended account keeps its data but every API call gets 403.
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.CharField(max_length=200, blank=True)
    # Set when the customer closes the account; the row stays for the ledger's sake.
    closed_at = models.DateTimeField(null=True, blank=True)
    # Signs the webhooks we send this account (Standard Webhooks: "whsec_" + base64 key);
    # made on first use, rotated in Settings → API keys. Encrypted at rest.
    webhook_secret = EncryptedCharField(max_length=80, blank=True)
    # Set automatically when the account hammers refused requests (gateway/limits.py): API
    # calls get 429 until then. Staff can lift it early in admin.
    blocked_until = models.DateTimeField(null=True, blank=True)
    # Account-wide API limits set by staff; empty means the site default (settings
    # RATE_LIMIT_ACCOUNT_*). Every key of the account shares them.
    rpm_limit = models.PositiveIntegerField(
        "requests per minute", null=True, blank=True, help_text="Empty: the site default."
    )
    tpm_limit = models.PositiveIntegerField(
        "tokens per minute", null=True, blank=True, help_text="Empty: the site default."
    )
    concurrency_limit = models.PositiveIntegerField(
        "concurrent requests", null=True, blank=True, help_text="Empty: the site default."
    )
    # Settings → Billing: one email when the balance falls below this (billing/alerts.py);
    # alerted_at is set when it is sent and cleared once the balance is back above.
    low_balance_threshold_micros = models.BigIntegerField(null=True, blank=True)
    low_balance_alerted_at = models.DateTimeField(null=True, blank=True)
    # The subscription plan whose period is paid (billing/payments.py keeps it current from
    # Stripe's webhooks); its limits apply where staff set none above.
    plan = models.ForeignKey(
        "billing.Plan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        editable=False,
    )  # fmt: skip

    # The white-label brand whose customer this is (brands/); empty: the operator's own site.
    # A brand's customers sign in, pay and call the API only as that brand's.
    brand = models.ForeignKey(
        "brands.Brand", null=True, blank=True, on_delete=models.PROTECT, related_name="customers",
        editable=False,
    )  # fmt: skip

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"], condition=models.Q(brand__isnull=True),
                name="user_email_unique_on_our_site",
            ),
            models.UniqueConstraint(
                fields=["brand", "email"], condition=models.Q(brand__isnull=False),
                name="user_email_unique_per_brand",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.email

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class ApiKey(models.Model):
    """An API key. Only the SHA-256 of the secret is stored, plus a short display prefix."""

    class Purpose(models.TextChoices):
        API = "api", "API key"
        # The playground's own key: its secret is never known to anyone; the playground page
        # reaches it through short-lived signed tokens (accounts/keys.py).
        PLAYGROUND = "playground", "Playground"

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.API)
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=24, help_text="The first characters, for display.")
    hashed_secret = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Refreshed at most once a minute per process, so a request does not cost a write.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Public model slugs this key may call; empty means every model the account may use.
    allowed_models = models.JSONField(default=list, blank=True)
    # Spend cap in micro-credits (None = no cap); spent_micros counts settled and held spend.
    spend_cap_micros = models.BigIntegerField(null=True, blank=True)
    spent_micros = models.BigIntegerField(default=0)
    # Per-key limits on top of the account's (empty: only the account's apply).
    rpm_limit = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    tpm_limit = models.PositiveIntegerField("tokens per minute", null=True, blank=True)
    concurrency_limit = models.PositiveIntegerField("concurrent requests", null=True, blank=True)
    # Set by staff: the key answers 403 until lifted (unlike revocation, reversible).
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(spent_micros__gte=0), name="apikey_spent_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now: object = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def allows_model(self, slug: str) -> bool:
        return not self.allowed_models or slug in self.allowed_models
