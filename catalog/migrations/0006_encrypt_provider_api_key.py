"""Providers' API keys: stored encrypted (reapi/encryption.py). The column becomes text, the plain
values are encrypted in place, then the field becomes an EncryptedCharField (no SQL)."""

from django.db import migrations, models

import reapi.encryption

FIELDS = ("api_key",)


def encrypt(apps, schema_editor):
    model = apps.get_model("catalog", "Provider")
    for field in FIELDS:
        reapi.encryption.encrypt_column(model, field)


def decrypt(apps, schema_editor):
    model = apps.get_model("catalog", "Provider")
    for field in FIELDS:
        reapi.encryption.decrypt_column(model, field)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_price_notice")]

    operations = [
        migrations.AlterField("provider", "api_key", models.TextField(blank=True)),
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            "provider", "api_key", reapi.encryption.EncryptedCharField(blank=True, max_length=500)
        ),
    ]
