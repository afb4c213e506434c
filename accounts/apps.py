from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from accounts.staff_groups import ensure_groups

        # After every app's migrate (the last call sees every app's permissions).
        post_migrate.connect(ensure_groups, dispatch_uid="reapi-staff-groups")
