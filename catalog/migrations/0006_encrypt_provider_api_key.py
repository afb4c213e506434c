"""Providers' API keys: stored encrypted (reapi/encryption.py). The column becomes text, the plain
values are encrypted in place, then the field becomes an EncryptedCharField (no SQL)."""

from django.db import migrations, models

import reapi.encryption


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_price_notice")]

    operations = [
        migrations.AlterField("provider", "api_key", models.TextField(blank=True)),
        reapi.encryption.seal_in_place("catalog", "Provider", "api_key"),
        migrations.AlterField(
            "provider", "api_key", reapi.encryption.EncryptedCharField(blank=True, max_length=500)
        ),
    ]
