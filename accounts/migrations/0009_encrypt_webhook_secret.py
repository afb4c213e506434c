"""Customers' webhook signing secrets: stored encrypted (reapi/encryption.py). The column becomes
text, the plain values are encrypted in place, then the field becomes an EncryptedCharField (no
SQL)."""

from django.db import migrations, models

import reapi.encryption


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_email_unique_per_site")]

    operations = [
        migrations.AlterField("user", "webhook_secret", models.TextField(blank=True)),
        reapi.encryption.seal_in_place("accounts", "User", "webhook_secret"),
        migrations.AlterField(
            "user", "webhook_secret", reapi.encryption.EncryptedCharField(blank=True, max_length=80)
        ),
    ]
