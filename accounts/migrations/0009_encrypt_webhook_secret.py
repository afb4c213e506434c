"""Customers' webhook signing secrets: stored encrypted (reapi/encryption.py). The column becomes
text, the plain values are encrypted in place, then the field becomes an EncryptedCharField (no
SQL)."""

from django.db import migrations, models

import reapi.encryption

FIELDS = ("webhook_secret",)


def encrypt(apps, schema_editor):
    model = apps.get_model("accounts", "User")
    for field in FIELDS:
        reapi.encryption.encrypt_column(model, field)


def decrypt(apps, schema_editor):
    model = apps.get_model("accounts", "User")
    for field in FIELDS:
        reapi.encryption.decrypt_column(model, field)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_email_unique_per_site")]

    operations = [
        migrations.AlterField("user", "webhook_secret", models.TextField(blank=True)),
        migrations.RunPython(encrypt, decrypt),
        migrations.AlterField(
            "user", "webhook_secret", reapi.encryption.EncryptedCharField(blank=True, max_length=80)
        ),
    ]
