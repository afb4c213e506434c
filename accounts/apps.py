from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from accounts.staff_groups import ensure_groups

        # After every app's migrate (the last call sees every app's permissions).
        post_migrate.connect(ensure_groups, dispatch_uid="reapi-staff-groups")
        if apps.is_installed("allauth.account"):  # not in an API-only process (settings_api)
            _allauth_checks_with_email_unique_per_site()


UNIQUE_EMAIL_CHECK = "Using email as a login method requires ACCOUNT_UNIQUE_EMAIL"


def _allauth_checks_with_email_unique_per_site() -> None:
    """allauth's settings checks, all but one: email login needs unique emails, and ours are
    unique per site (ours, each brand's), which accounts/backends.py resolves first. allauth's
    messages carry no id to silence, so its check runs here with that one message left out."""
    from allauth.account import checks as allauth_checks
    from django.core import checks

    checks.registry.registry.registered_checks.discard(allauth_checks.settings_check)

    @checks.register()
    def allauth_settings_check(app_configs, **kwargs):  # noqa: ANN001, ANN202
        found = allauth_checks.settings_check(app_configs, **kwargs)
        return [message for message in found if message.msg != UNIQUE_EMAIL_CHECK]
