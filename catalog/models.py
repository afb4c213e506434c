"""The catalog: providers, public models, routes between them, and versioned prices.

Prices are integers in micro-credits ($1 = 1,000 credits = 1,000,000,000 micro-credits).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from reapi.encryption import EncryptedCharField

TASK_AUTH_SCHEMES = ("bearer", "token", "x-api-key", "none")  # how a task API takes our key


class Provider(models.Model):
    class Kind(models.TextChoices):
        SIMULATOR = "simulator", "Bundled simulator (OpenAI-compatible)"
        OPENAI = "openai", "OpenAI-compatible"
        OPENAI_RESPONSES = "openai_responses", "OpenAI Responses API"
        ANTHROPIC = "anthropic", "Anthropic"
        GEMINI = "gemini", "Google Gemini"
        ARK = "ark", "ByteDance Ark"
        ASYNC_TASK = "async_task", "Generic asynchronous task API (videos)"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=300)
    # The provider's secret, encrypted at rest. Admin never renders it back (catalog/admin.py).
    api_key = EncryptedCharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)
    connect_timeout_ms = models.PositiveIntegerField(default=1000)
    # Streams: how long to wait for the first event before failing over.
    first_byte_timeout_ms = models.PositiveIntegerField(default=30_000)
    # Non-stream requests answer only when the whole generation is done, so they wait longer.
    read_timeout_ms = models.PositiveIntegerField(default=600_000)
    # Protocol settings for adapters configured by data (kind async_task: paths, field names
    # and status values; see gateway/providers/async_task.py).
    options = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key)

    def clean(self) -> None:
        """A described task API (kind async_task) must say where to post, poll and fetch."""
        if self.kind != self.Kind.ASYNC_TASK:
            return
        options = self.options if isinstance(self.options, dict) else {}
        problems = [
            f"'{name}' must be a path starting with /"
            for name in ("create_path", "poll_path")
            if not str(options.get(name, "")).startswith("/")
        ]
        statuses = options.get("statuses")
        ours = {"queued", "in_progress", "completed", "failed"}
        if not isinstance(statuses, dict) or not set(statuses.values()) <= ours:
            problems.append(f"'statuses' must map the provider's values to {sorted(ours)}")
        if not options.get("result_url_field") and not options.get("content_path"):
            problems.append("give 'result_url_field' or 'content_path'")
        if options.get("auth", "bearer") not in TASK_AUTH_SCHEMES:
            problems.append(f"'auth' must be one of {', '.join(TASK_AUTH_SCHEMES)}")
        if problems:
            raise ValidationError({"options": "; ".join(problems)})


class Model(models.Model):
    class Kind(models.TextChoices):
        CHAT = "chat", "Chat"
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"
        EMBEDDING = "embedding", "Embedding"
        TOOL = "tool", "Tool"

    slug = models.SlugField(max_length=100, unique=True, help_text="The public model id.")
    display_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    owned_by = models.CharField(max_length=50, blank=True, help_text="Shown in /v1/models.")
    description = models.TextField(blank=True)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    max_video_seconds = models.PositiveIntegerField(null=True, blank=True)
    max_images = models.PositiveIntegerField(null=True, blank=True)
    supports_streaming = models.BooleanField(
        default=True,
        help_text="Off for models whose upstreams cannot stream: a request with stream: true "
        "is then refused with a 400 before anything is charged.",
    )
    enabled = models.BooleanField(default=True, db_index=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "sort_order", "slug"]

    def __str__(self) -> str:
        return self.display_name


class Route(models.Model):
    """One way to serve a model: through a provider, under the provider's model name."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="routes")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="routes")
    upstream_model = models.CharField(max_length=200)
    # Lower runs first; among equal priorities, weight shares the traffic.
    priority = models.IntegerField(default=0)
    weight = models.PositiveIntegerField(default=100)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["model", "priority", "-weight", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "provider", "upstream_model"], name="route_unique_per_provider"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} → {self.provider.slug}:{self.upstream_model}"


class Price(models.Model):
    """A price list for one model from `effective_from` on. Every amount is in micro-credits.

    The price in force is the newest whose date has come; a future-dated row is an announced
    change. Image prices map "WIDTHxHEIGHT:quality" (quality may be "*") to micro-credits per
    image; video prices map a resolution such as "720p" to micro-credits per second.
    """

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="prices")
    effective_from = models.DateTimeField(default=timezone.now)
    input_micros_per_mtok = models.BigIntegerField(default=0)
    cached_input_micros_per_mtok = models.BigIntegerField(default=0)
    output_micros_per_mtok = models.BigIntegerField(default=0)
    per_request_micros = models.BigIntegerField(default=0)
    image_micros = models.JSONField(default=dict, blank=True)
    video_micros_per_second = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=200, blank=True)
    notice_override_reason = models.CharField(
        max_length=300, blank=True,
        help_text="Only to change a price with less than the notice period (14 days) for "
        "existing customers: why.",
    )  # fmt: skip
    # When customers were emailed about this change (catalog/announcements.py).
    announced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["model", "-effective_from"]
        get_latest_by = "effective_from"
        constraints = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="price_unique_date"),
            models.CheckConstraint(
                condition=models.Q(input_micros_per_mtok__gte=0)
                & models.Q(cached_input_micros_per_mtok__gte=0)
                & models.Q(output_micros_per_mtok__gte=0)
                & models.Q(per_request_micros__gte=0),
                name="price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.slug} from {self.effective_from:%Y-%m-%d %H:%M}"

    PRICED_FIELDS = (
        "effective_from", "input_micros_per_mtok", "cached_input_micros_per_mtok",
        "output_micros_per_mtok", "per_request_micros", "image_micros", "video_micros_per_second",
    )  # fmt: skip

    def clean(self) -> None:
        self._check_tables()
        self._check_notice()

    def _check_notice(self) -> None:
        """Customers get at least PRICE_NOTICE_DAYS' notice of a change: a price for a model
        that already has one in force must start that far ahead, unless staff give a reason;
        a price already in force is history and cannot be edited."""
        now = timezone.now()
        before = Price.objects.filter(pk=self.pk).first() if self.pk else None
        if before is not None:
            changed = any(getattr(before, f) != getattr(self, f) for f in self.PRICED_FIELDS)
            if not changed:
                return
            if before.effective_from <= now:
                raise ValidationError(
                    "This price is in force (or was): it is part of the billing history. "
                    "Add a new price with a future date instead."
                )
        if self.model_id is None:
            return
        in_force = Price.objects.filter(model_id=self.model_id, effective_from__lte=now)
        if self.pk:
            in_force = in_force.exclude(pk=self.pk)
        if not in_force.exists():
            return  # a new model's first price: nobody has been charged yet
        days = settings.PRICE_NOTICE_DAYS
        if (
            self.effective_from < now + timedelta(days=days)
            and not self.notice_override_reason.strip()
        ):
            raise ValidationError({"effective_from": (
                f"Customers get {days} days' notice of a price change: start it on "
                f"{(now + timedelta(days=days)):%Y-%m-%d %H:%M} UTC or later, or give a reason "
                "to override the notice period."
            )})  # fmt: skip

    def _check_tables(self) -> None:
        for field in ("image_micros", "video_micros_per_second"):
            table = getattr(self, field) or {}
            if not isinstance(table, dict):
                raise ValidationError({field: "Must be an object mapping a key to micro-credits."})
            for key, value in table.items():
                if not isinstance(key, str) or type(value) is not int or value < 0:
                    raise ValidationError(
                        {field: f"{key!r}: prices must be non-negative whole micro-credits."}
                    )

    def image_price(self, *, size: str, quality: str) -> int | None:
        table = self.image_micros or {}
        for key in (f"{size}:{quality}", f"{size}:*", f"*:{quality}", "*:*"):
            if key in table:
                return int(table[key])
        return None

    def video_price_per_second(self, *, resolution: str) -> int | None:
        table = self.video_micros_per_second or {}
        value = table.get(resolution, table.get("*"))
        return None if value is None else int(value)
