from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from billing.templatetags.credits import credits
from catalog.admin import ProviderAdmin
from catalog.models import Provider
from gateway import health, probe
from gateway.models import RouteHealth, UpstreamFailure, UsageRecord, VideoJob


class ReadOnlyHistory(admin.ModelAdmin):
    """History rows: listed and filtered, never added, edited or deleted in admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyHistory):
    """Metadata of every request (never content). Read-only: it is history."""

    list_display = (
        "created_at", "request_id", "user", "endpoint", "model_slug", "provider_slug",
        "status", "http_status", "charged", "failovers", "latency_ms",
    )  # fmt: skip
    list_filter = ("status", "endpoint", "stream", "provider_slug")
    search_fields = ("request_id", "user__email", "model_slug")
    date_hierarchy = "created_at"
    list_select_related = ("user",)

    @admin.display(description="Charged (credits)")
    def charged(self, obj: UsageRecord) -> str:
        return credits(obj.charged_micros)


@admin.register(UpstreamFailure)
class UpstreamFailureAdmin(ReadOnlyHistory):
    """Every failed upstream attempt (then failed over or failed): filter by provider and
    reason to see which provider fails and how often."""

    list_display = ("created_at", "provider_slug", "reason", "model_slug", "request_id")
    list_filter = ("provider_slug", "reason")
    search_fields = ("request_id", "provider_slug", "model_slug")
    date_hierarchy = "created_at"


@admin.register(RouteHealth)
class RouteHealthAdmin(admin.ModelAdmin):
    list_display = (
        "model", "provider", "upstream_model", "priority", "enabled", "breaker", "failures_24h",
    )  # fmt: skip
    list_filter = ("provider", "enabled")
    search_fields = ("model__slug", "provider__slug", "upstream_model")
    list_select_related = ("model", "provider")
    actions = ["test_route", "force_open", "force_closed"]

    @admin.display(description="Circuit breaker")
    def breaker(self, obj: RouteHealth) -> str:
        return health.state(obj.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RouteHealth]:
        since = timezone.now() - timedelta(hours=24)
        failures = (
            UpstreamFailure.objects.filter(
                provider_slug=OuterRef("provider__slug"), created_at__gte=since
            )
            .values("provider_slug")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(failures=Coalesce(Subquery(failures), 0))

    @admin.display(description="Provider failures (24 h)", ordering="failures")
    def failures_24h(self, obj: RouteHealth) -> int:
        return obj.failures

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return obj is None  # the list and its actions; routes are edited in the catalog

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Test: send one tiny request to each (not charged to anyone)")
    def test_route(self, request: HttpRequest, queryset: QuerySet[RouteHealth]) -> None:
        for route in queryset.select_related("provider", "model")[:20]:
            result = probe.probe(route)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{route.provider.slug} → {route.model.slug}: "
                              f"{result.detail}", level)  # fmt: skip

    @admin.action(description="Force the breaker open for 10 minutes (skip these routes)")
    def force_open(self, request: HttpRequest, queryset: QuerySet[RouteHealth]) -> None:
        for route in queryset:
            health.set_state(route.pk, open_for_s=600)
        self.message_user(request, f"{queryset.count()} breaker(s) opened.", messages.SUCCESS)

    @admin.action(description="Close the breaker (use these routes again)")
    def force_closed(self, request: HttpRequest, queryset: QuerySet[RouteHealth]) -> None:
        for route in queryset:
            health.set_state(route.pk, open_for_s=None)
        self.message_user(request, f"{queryset.count()} breaker(s) closed.", messages.SUCCESS)


@admin.register(VideoJob)
class VideoJobAdmin(ReadOnlyHistory):
    """Video jobs (no prompt is ever stored): status, money and the webhook's delivery."""

    list_display = ("created_at", "id", "user", "model_slug", "provider_slug", "status",
                    "progress", "held", "charged", "webhook_state")  # fmt: skip
    list_filter = ("status", "model_slug", "webhook_state")
    search_fields = ("id", "request_id", "user__email")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    exclude = ("callback_url",)  # a customer's address: not needed to support the job

    @admin.display(description="Held (credits)")
    def held(self, obj: VideoJob) -> str:
        return credits(obj.held_micros)

    @admin.display(description="Charged (credits)")
    def charged(self, obj: VideoJob) -> str:
        return credits(obj.charged_micros)


class RouteHealthInline(admin.TabularInline):
    """A provider's routes as operations sees them: live breaker state, read-only here."""

    model = RouteHealth
    fk_name = "provider"
    extra = 0
    can_delete = False
    fields = ("model", "upstream_model", "priority", "enabled", "breaker")
    readonly_fields = fields
    verbose_name_plural = "routes and their live health (test them in Route health)"

    @admin.display(description="Circuit breaker")
    def breaker(self, obj: RouteHealth) -> str:
        return health.state(obj.pk)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# The provider page shows its routes' health: gateway extends the catalog's admin (the
# catalog does not know about breakers).
admin.site.unregister(Provider)


@admin.register(Provider)
class ProviderWithHealthAdmin(ProviderAdmin):
    inlines = [*ProviderAdmin.inlines, RouteHealthInline]
