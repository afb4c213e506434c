"""One usage row per API request: metadata only, never prompts, outputs or headers."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.models import Route


class UsageRecord(models.Model):
    class Status(models.TextChoices):
        OK = "ok", "Succeeded"
        UPSTREAM_ERROR = "upstream_error", "Upstream failed"
        CLIENT_ERROR = "client_error", "Rejected by the upstream as invalid"
        CUT = "cut", "Upstream cut the stream"
        ABORTED = "aborted", "Client disconnected"

    request_id = models.CharField(max_length=64, unique=True)
    # The (user, -created_at) index below serves per-user reads; the FKs need none of their
    # own, and every index costs each request a write.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="usage_records",
        db_index=False,
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    endpoint = models.CharField(max_length=50)
    model_slug = models.CharField(max_length=100)
    provider_slug = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField()
    stream = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    cached_input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Units charged per piece (images delivered); 0 for token-priced requests.
    units = models.PositiveIntegerField(default=0)
    # True when tokens were estimated by us (the upstream never reported usage).
    estimated = models.BooleanField(default=False)
    held_micros = models.BigIntegerField(default=0)
    charged_micros = models.BigIntegerField(default=0)
    # A white-label customer's request: what the reseller paid for it (the operator's price).
    wholesale_micros = models.BigIntegerField(default=0)
    failovers = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="usage_user_recent"),
            models.Index(fields=["model_slug", "-created_at"], name="usage_model_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model_slug} {self.status}"


class UpstreamFailure(models.Model):
    """One failed attempt at an upstream (the request then failed over or failed): which
    provider, why, when. Metadata only; written only when an attempt fails."""

    request_id = models.CharField(max_length=64, db_index=True)
    provider_slug = models.CharField(max_length=50)
    model_slug = models.CharField(max_length=100)
    # refused, timeout, status_503, unreadable, ... (gateway/router.py)
    reason = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["provider_slug", "-created_at"], name="failure_provider_recent")
        ]

    def __str__(self) -> str:
        return f"{self.provider_slug} {self.reason}"


class Asset(models.Model):
    """A generated file we keep for its owner for a limited time (ASSET_RETENTION_DAYS):
    served only through signed, expiring links (gateway/assets.py). The row is metadata; the
    bytes are in the default storage (local disk, or S3/R2)."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        VIDEO = "video", "Video"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    request_id = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveBigIntegerField()
    storage_name = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"], name="asset_user_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class VideoJob(models.Model):
    """An asynchronous video job: submitted upstream when the request arrives (so the prompt
    never needs to be stored), then advanced by Celery (gateway/videos.py) until it has a file
    or fails. Metadata only: no prompt, no upstream error text."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"

    id = models.CharField(primary_key=True, max_length=40, editable=False)  # video_<hex>
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_id = models.CharField(max_length=64, unique=True)  # the hold's and ledger's key
    model_slug = models.CharField(max_length=100)
    provider_slug = models.CharField(max_length=50)
    route_id = models.IntegerField(null=True)
    upstream_id = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    seconds = models.PositiveIntegerField()
    size = models.CharField(max_length=20)
    held_micros = models.BigIntegerField(default=0)
    charged_micros = models.BigIntegerField(default=0)
    error_code = models.CharField(max_length=50, blank=True)
    asset = models.ForeignKey(Asset, null=True, blank=True, on_delete=models.SET_NULL)
    # Announced here when the job ends (gateway/webhooks.py); "" for none.
    callback_url = models.URLField(max_length=2000, blank=True)
    webhook_state = models.CharField(max_length=20, blank=True)  # pending, delivered, failed
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    # The next poll is due at this time; a worker claims a job by moving it forward (a lease),
    # so a job whose worker died is picked up again when the lease runs out.
    next_poll_at = models.DateTimeField(db_index=True)
    polls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="video_user_recent")]

    def __str__(self) -> str:
        return f"{self.id} {self.status}"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key on a billable POST (gateway/idempotency.py): a fingerprint
    of the request, never the request or its answer."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of method, path and body
    request_id = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    charged_micros = models.BigIntegerField(default=0)
    # A result we may give again: "video:<id>" or "assets:<id>,<id>"; empty for content.
    result = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key[:20]}"


class RouteHealth(Route):
    """The catalog's routes seen by operations: circuit breaker state, forced open/closed."""

    class Meta:
        proxy = True
        verbose_name = "route health"
        verbose_name_plural = "route health"
