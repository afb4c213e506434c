from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import keys, services
from accounts.models import ApiKey, User


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ("name", "prefix", "created_at", "last_used_at", "suspended_at", "revoked_at",
              "expires_at")  # fmt: skip
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ("-date_joined",)
    list_display = (
        "email", "is_active", "is_staff", "suspended_at", "blocked_until", "closed_at",
        "date_joined",
    )  # fmt: skip
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "api_keys__prefix")
    readonly_fields = ("date_joined", "last_login", "closed_at", "activity")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (
            "Status",
            {
                "fields": (
                    "is_active",
                    "suspended_at",
                    "suspension_reason",
                    "blocked_until",
                    "closed_at",
                )
            },
        ),
        ("API limits", {"fields": ("rpm_limit", "tpm_limit", "concurrency_limit")}),
        ("Money and usage", {"fields": ("activity",)}),
        ("Permissions", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [ApiKeyInline]
    actions = ["suspend", "lift_suspension", "lift_block", "terminate"]

    @admin.display(description="Activity")
    def activity(self, obj: User) -> str:
        """Balance, plan, open holds, 30 days of usage and jobs in flight, with links to each
        list filtered to this customer (metadata only)."""
        from django.utils.html import format_html, format_html_join

        from gateway.dashboard import customer_activity  # gateway reads accounts, not back

        if obj.pk is None:
            return "—"
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", (
                (label, value, format_html('<a href="{}">list</a>', url) if url else "")
                for label, value, url in customer_activity(obj)
            )),
        )  # fmt: skip

    def save_model(self, request: HttpRequest, obj: User, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        keys.forget_cached_for(obj)  # limits and status changes apply at once

    @admin.action(description="Suspend selected accounts (API calls get 403 at once)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = services.suspend(queryset, by=request.user)
        self.message_user(request, f"{count} account(s) suspended.", messages.SUCCESS)

    @admin.action(description="Lift suspension of selected accounts")
    def lift_suspension(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = services.lift_suspension(queryset)
        self.message_user(request, f"{count} suspension(s) lifted.", messages.SUCCESS)

    @admin.action(
        description="Terminate selected accounts (cancel the subscription, lapse unused "
        "subscription credits, revoke every key)",
        permissions=["change"],
    )
    def terminate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        from billing.termination import CannotTerminate, terminate

        done = 0
        for user in queryset.filter(closed_at__isnull=True):
            try:
                terminate(user)
                done += 1
            except CannotTerminate:
                self.message_user(request, f"{user}: the subscription could not be cancelled; "
                                  "nothing changed.", messages.ERROR)  # fmt: skip
        self.message_user(request, f"{done} account(s) terminated.", messages.SUCCESS)

    @admin.action(description="Lift the automatic temporary block of selected accounts")
    def lift_block(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = queryset.exclude(blocked_until__isnull=True).update(blocked_until=None)
        for user in queryset:
            keys.forget_cached_for(user)
        self.message_user(request, f"{count} block(s) lifted.", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "prefix", "name", "owner", "created_at", "last_used_at", "suspended_at", "revoked_at",
    )  # fmt: skip
    list_filter = ("revoked_at", "suspended_at")
    search_fields = ("prefix", "name", "owner__email")
    raw_id_fields = ("owner",)
    # The hash is never shown; nothing here can reveal or set a secret.
    fields = (
        "owner",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "expires_at",
        "allowed_models",
        "spend_cap_micros",
        "spent_micros",
        "rpm_limit",
        "tpm_limit",
        "concurrency_limit",
        "suspended_at",
    )
    readonly_fields = (
        "owner",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
        "spent_micros",
    )
    actions = ["suspend", "lift_suspension", "revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are created by their owner, who alone sees the secret

    def save_model(self, request: HttpRequest, obj: ApiKey, form: object, change: bool) -> None:
        super().save_model(request, obj, form, change)
        keys.forget_cached(obj)

    @admin.action(description="Suspend selected keys (API calls get 403 at once)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.filter(suspended_at__isnull=True).update(suspended_at=timezone.now())
        for key in queryset:
            keys.forget_cached(key)
        self.message_user(request, f"{count} key(s) suspended.", messages.SUCCESS)

    @admin.action(description="Lift suspension of selected keys")
    def lift_suspension(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = queryset.exclude(suspended_at__isnull=True).update(suspended_at=None)
        for key in queryset:
            keys.forget_cached(key)
        self.message_user(request, f"{count} key suspension(s) lifted.", messages.SUCCESS)

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            keys.revoke(key)
        self.message_user(request, "Keys revoked.", messages.SUCCESS)
