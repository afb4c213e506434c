from django.apps import AppConfig


class BrandsConfig(AppConfig):
    name = "brands"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "White-label brands"

    def ready(self) -> None:
        from brands import signals  # noqa: F401
