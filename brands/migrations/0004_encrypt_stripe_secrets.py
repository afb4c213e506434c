"""Brands' Stripe secrets: stored encrypted (reapi/encryption.py). The column becomes text, the
plain values are encrypted in place, then the field becomes an EncryptedCharField (no SQL)."""

from django.db import migrations, models

import reapi.encryption


class Migration(migrations.Migration):
    dependencies = [("brands", "0003_stripe_and_packs")]

    operations = [
        migrations.AlterField("brand", "stripe_secret_key", models.TextField(blank=True)),
        migrations.AlterField("brand", "stripe_webhook_secret", models.TextField(blank=True)),
        reapi.encryption.seal_in_place("brands", "Brand", "stripe_secret_key", "stripe_webhook_secret"),
        migrations.AlterField(
            "brand", "stripe_secret_key", reapi.encryption.EncryptedCharField(blank=True, max_length=255)
        ),
        migrations.AlterField(
            "brand", "stripe_webhook_secret", reapi.encryption.EncryptedCharField(blank=True, max_length=255)
        ),
    ]
