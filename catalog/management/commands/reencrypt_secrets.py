"""Re-encrypt every stored secret under the first of SECRETS_ENCRYPTION_KEYS: the middle step
of rotating a key (reapi/encryption.py, docs/deploy.md). Safe to run again; prints counts,
never a secret."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand

from reapi.encryption import EncryptedCharField


class Command(BaseCommand):
    help = "Re-encrypt stored secrets under the first key of SECRETS_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedCharField):
                    continue
                rows = model._default_manager.exclude(**{field.name: ""})
                done = 0
                # Read through the field (any configured key opens it), write back through it
                # (the first key seals it).
                for pk, plain in rows.values_list("pk", field.name).iterator():
                    model._default_manager.filter(pk=pk).update(**{field.name: plain})
                    done += 1
                self.stdout.write(f"{model._meta.label}.{field.name}: {done} re-encrypted")
