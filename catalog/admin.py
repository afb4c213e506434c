from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog import selectors, services
from catalog.models import Model, Price, Provider, Route


class ProviderForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered back into the page.
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current secret. Tick “clear” to remove it.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Clear the stored secret")

    class Meta:
        model = Provider
        fields = (
            "slug",
            "name",
            "kind",
            "base_url",
            "api_key",
            "enabled",
            "connect_timeout_ms",
            "first_byte_timeout_ms",
            "read_timeout_ms",
            "options",
            "notes",
        )

    def clean(self) -> dict[str, object]:
        data = super().clean()
        if data.get("clear_api_key"):
            data["api_key"] = ""
        elif not data.get("api_key") and self.instance.pk:
            data["api_key"] = Provider.objects.get(pk=self.instance.pk).api_key
        return data


class RouteInline(admin.TabularInline):
    model = Route
    extra = 0
    fields = ("provider", "upstream_model", "priority", "weight", "enabled")


class PriceInline(admin.StackedInline):
    model = Price
    extra = 0
    fields = (
        "effective_from",
        ("input_micros_per_mtok", "cached_input_micros_per_mtok", "output_micros_per_mtok"),
        "per_request_micros",
        "image_micros",
        "video_micros_per_second",
        "note",
        "notice_override_reason",
        "announced_at",
    )
    readonly_fields = ("announced_at",)


class EnableActions:
    """Bulk enable/disable for catalog rows; the catalog snapshot is refreshed after."""

    actions = ["enable", "disable"]

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet, enabled: bool) -> None:
        count = queryset.update(enabled=enabled)
        selectors.invalidate()  # .update() sends no signals
        verb = "enabled" if enabled else "disabled"
        self.message_user(request, f"{count} {verb}.", messages.SUCCESS)

    @admin.action(description="Enable selected %(verbose_name_plural)s")
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected %(verbose_name_plural)s")
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_enabled(request, queryset, False)


@admin.register(Provider)
class ProviderAdmin(EnableActions, admin.ModelAdmin):
    form = ProviderForm
    list_display = ("slug", "name", "kind", "base_url", "enabled", "has_secret")
    list_filter = ("kind", "enabled")
    search_fields = ("slug", "name", "base_url")

    @admin.display(boolean=True, description="Secret set")
    def has_secret(self, obj: Provider) -> bool:
        return obj.has_api_key


@admin.register(Model)
class ModelAdmin(EnableActions, admin.ModelAdmin):
    list_display = ("slug", "display_name", "kind", "owned_by", "enabled", "route_count")
    list_filter = ("kind", "enabled", "owned_by")
    search_fields = ("slug", "display_name", "description")
    list_editable = ("enabled",)
    inlines = [RouteInline, PriceInline]
    actions = [*EnableActions.actions, "clone"]

    @admin.action(description="Clone selected models (disabled copies with their routes and "
                  "prices in force)")  # fmt: skip
    def clone(self, request: HttpRequest, queryset: QuerySet[Model]) -> None:
        for model in queryset:
            copy = services.clone_model(model)
            self.message_user(request, f"{model.slug} cloned as {copy.slug} (disabled).",
                              messages.SUCCESS)  # fmt: skip

    @admin.display(description="Routes")
    def route_count(self, obj: Model) -> int:
        return obj.routes.filter(enabled=True).count()


@admin.register(Route)
class RouteAdmin(EnableActions, admin.ModelAdmin):
    list_display = ("model", "provider", "upstream_model", "priority", "weight", "enabled")
    list_filter = ("provider", "enabled", "model__kind")
    search_fields = ("model__slug", "provider__slug", "upstream_model")
    list_editable = ("priority", "weight", "enabled")
    list_select_related = ("model", "provider")


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "effective_from",
        "input_micros_per_mtok",
        "output_micros_per_mtok",
        "per_request_micros",
    )
    list_filter = ("model__kind",)
    search_fields = ("model__slug",)
    date_hierarchy = "effective_from"
    list_select_related = ("model",)
