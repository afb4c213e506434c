from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps

        from billing import signals  # noqa: F401  (a credit account for every new user)

        if apps.is_installed("djstripe"):  # not in an API-only process (settings_api)
            from billing import stripe_hooks

            stripe_hooks.connect()  # Stripe webhooks (through dj-stripe) grant credits
