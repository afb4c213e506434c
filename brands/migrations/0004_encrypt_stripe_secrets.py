"""Brands' Stripe secrets: stored encrypted (reapi/encryption.py). The column becomes text, the
plain values are encrypted in place, then the field becomes an EncryptedCharField (no SQL)."""

from django.db import migrations, models

import reapi.encryption

FIELDS = ("stripe_secret_key", "stripe_webhook_secret")


def encrypt(apps, schema_editor):
    model = apps.get_model("brands", "Brand")
    for field in FIELDS:
        reapi.encryption.encrypt_column(model, field)


def decrypt(apps, schema_editor):
    model = apps.get_model("brands", "Brand")
    for field in FIELDS:
        reapi.encryption.decrypt_column(model, field)


class Migration(migrations.Migration):
    dependencies = [("brands", "0003_stripe_and_packs")]

    operations = [
        migrations.AlterField("brand", "stripe_secret_key", models.TextField(blank=True)),
        migrations.AlterField("brand", "stripe_webhook_secret", models.TextField(blank=True)),
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            "brand", "stripe_secret_key", reapi.encryption.EncryptedCharField(blank=True, max_length=255)
        ),
        migrations.AlterField(
            "brand", "stripe_webhook_secret", reapi.encryption.EncryptedCharField(blank=True, max_length=255)
        ),
    ]
