"""White-label brands: a reseller's own site on its own domain, selling our catalog (or part
of it) at its own markup to its own customers. See docs/white-label.md."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import User
from reapi.encryption import EncryptedCharField

_colour = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb.")
_host = RegexValidator(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    "A host name in lower case, without scheme, port or path (api.example.com).",
)

BASIS_POINTS = 10_000  # markup_bp 2500 = 25 %


class Brand(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, help_text="Shown on every page, email and error.")
    domain = models.CharField(
        max_length=253, unique=True, validators=[_host],
        help_text="The host name this brand's customers use, e.g. api.example.com.",
    )  # fmt: skip
    enabled = models.BooleanField(
        default=True, help_text="Off: the domain shows the operator's site and keys stop working."
    )
    # The reseller: a user of the operator's own site, whose credit account pays the operator's
    # (wholesale) price for every request of the brand's customers.
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reseller_brand",
        limit_choices_to={"brand__isnull": True},
        help_text="The reseller's account on the operator's site; its credits pay wholesale.",
    )  # fmt: skip
    logo_url = models.URLField(blank=True)
    primary_color = models.CharField(max_length=7, default="#2563eb", validators=[_colour])
    support_email = models.EmailField()
    from_email = models.CharField(
        max_length=200, blank=True,
        help_text='Sender of the brand\'s emails, e.g. "Acme AI <no-reply@acme.example>". '
        "Empty: the operator's sender with the brand's name.",
    )  # fmt: skip
    disclose_operator = models.BooleanField(
        default=False, help_text="Say in the footer that the service runs on the operator's."
    )
    markup_bp = models.PositiveIntegerField(
        "markup (basis points)", default=0,
        help_text="Added to the operator's price of every model: 2500 = 25 %.",
    )  # fmt: skip
    all_models = models.BooleanField(
        default=True, help_text="Offer every enabled model; off: only those listed below."
    )
    # The brand's own Stripe account, for its packs (docs/white-label.md); both empty: its
    # customers get credits from the reseller's console only. Never shown back in admin.
    stripe_secret_key = EncryptedCharField(max_length=255, blank=True)
    stripe_webhook_secret = EncryptedCharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def sells_packs(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)


class BrandModel(models.Model):
    """A model a brand offers (needed when `all_models` is off), with its own markup."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="offers")
    model = models.ForeignKey("catalog.Model", on_delete=models.CASCADE, related_name="+")
    markup_bp = models.PositiveIntegerField(
        "markup (basis points)", null=True, blank=True, help_text="Empty: the brand's markup."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "model"], name="brandmodel_unique")]

    def __str__(self) -> str:
        return f"{self.brand} · {self.model}"


class BrandPack(models.Model):
    """Credits a brand's customers buy by card on the brand's site, through the brand's own
    Stripe account: the money is the brand's; the credits are spent at the brand's prices."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="packs")
    name = models.CharField(max_length=100)
    price_cents = models.PositiveIntegerField(help_text="In the currency's smallest unit.")
    currency = models.CharField(max_length=3, default="usd")
    credits_micros = models.BigIntegerField(help_text="Credits granted, in micro-credits.")
    active = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "price_cents"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits_micros__gt=0), name="brandpack_credits_positive"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Customer(User):
    """A brand's customer, as its reseller's console lists them (a proxy: the same rows)."""

    class Meta:
        proxy = True
        verbose_name = "customer"
