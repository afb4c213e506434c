"""Secrets at rest: the upstream providers' API keys, brands' Stripe secrets and customers'
webhook signing secrets are stored encrypted (Fernet: AES-128-CBC with an HMAC-SHA256), never
as the plain text a database dump, a replica or a backup would show.

Keys come from SECRETS_ENCRYPTION_KEYS (comma-separated, any long random strings; each is
stretched into a Fernet key with HKDF-SHA256). The first one encrypts; every one decrypts,
so a key is rotated by putting a new one first, running `manage.py reencrypt_secrets`, then
removing the old one. Unset, the one key is SECRET_KEY (so `make run` needs nothing); a
deployment should set its own, because rotating SECRET_KEY would otherwise lose the secrets.

A stored value is "" (no secret) or "enc1:" + a Fernet token. Encryption is randomised, so an
encrypted column cannot be searched by value: nothing here looks a secret up, only reads it."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.db import models

PREFIX = "enc1:"


class SecretUnreadable(Exception):
    """A stored secret that none of the configured keys opens. The message names the field,
    never the value."""


def _fernet_key(material: str) -> bytes:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"reapi secrets at rest v1"
    ).derive(material.encode())
    return base64.urlsafe_b64encode(derived)


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(k)) for k in keys])


def cipher() -> MultiFernet:
    keys = tuple(settings.SECRETS_ENCRYPTION_KEYS) or (settings.SECRET_KEY,)
    return _cipher(keys)


@checks.register(checks.Tags.security, deploy=True)
def check_keys(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`check --deploy`: a deployment seals its secrets with keys of its own, long enough."""
    keys = settings.SECRETS_ENCRYPTION_KEYS
    if not keys:
        return [checks.Warning(
            "SECRETS_ENCRYPTION_KEYS is not set: stored secrets are sealed with a key made from "
            "SECRET_KEY, so rotating SECRET_KEY would make them unreadable.",
            hint="Set SECRETS_ENCRYPTION_KEYS to a long random value (docs/deploy.md).",
            id="reapi.W001",
        )]  # fmt: skip
    if any(len(key) < 32 for key in keys):
        return [checks.Warning(
            "A key in SECRETS_ENCRYPTION_KEYS is shorter than 32 characters.",
            hint="Use long random values, e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'.",
            id="reapi.W002",
        )]  # fmt: skip
    return []


def encrypt(plain: str) -> str:
    if not plain:
        return ""
    return PREFIX + cipher().encrypt(plain.encode()).decode()


def decrypt(stored: str, *, where: str = "a secret") -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise SecretUnreadable(f"{where} is stored unencrypted; run the migrations")
    try:
        return cipher().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            f"{where} cannot be decrypted with SECRETS_ENCRYPTION_KEYS (a key removed too soon?)"
        ) from None


class EncryptedCharField(models.CharField):
    """A CharField whose value is encrypted in the database. `max_length` bounds the plain
    text (forms and validation); the column is text, since the ciphertext is longer."""

    def get_internal_type(self) -> str:
        return "TextField"

    def db_type(self, connection: Any) -> str | None:
        return models.TextField().db_type(connection)

    def cast_db_type(self, connection: Any) -> str | None:
        return models.TextField().cast_db_type(connection)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        return decrypt(value, where=f"{self.model._meta.label}.{self.name}")

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) else value

    def value_to_string(self, obj: models.Model) -> str:
        """What `dumpdata` writes: the sealed value, so a fixture or backup made from the
        database holds no secret in plain text either."""
        return encrypt(self.value_from_object(obj) or "")

    def to_python(self, value: Any) -> Any:
        """`loaddata` reads the sealed value back (a secret itself never starts with the
        prefix: provider keys, Stripe secrets and webhook secrets have their own)."""
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt(value, where=f"{self.model._meta.label}.{self.name}")
        return super().to_python(value)


def _rewrite_column(model: type[models.Model], field: str, sealed: bool) -> int:
    """Rewrite the stored values of `model.field` that are not yet in the wanted form (a
    migration's step, on a column declared as plain text): sealed, or opened again. Returns
    how many rows changed."""
    where = f"{model._meta.label}.{field}"
    changed = 0
    for pk, value in model._default_manager.exclude(**{field: ""}).values_list("pk", field):
        if value and value.startswith(PREFIX) != sealed:
            new = encrypt(value) if sealed else decrypt(value, where=where)
            model._default_manager.filter(pk=pk).update(**{field: new})
            changed += 1
    return changed


def encrypt_column(model: type[models.Model], field: str) -> int:
    """Encrypt the plain values of `model.field` in place."""
    return _rewrite_column(model, field, sealed=True)


def decrypt_column(model: type[models.Model], field: str) -> int:
    """The reverse of encrypt_column, for migrating back."""
    return _rewrite_column(model, field, sealed=False)


def seal_in_place(app_label: str, model_name: str, *fields: str) -> Any:
    """The migration step that encrypts existing plain values of `fields` (reversible): use
    it between an AlterField to TextField and one to EncryptedCharField."""
    from django.db import migrations

    def forward(apps, schema_editor) -> None:
        for field in fields:
            encrypt_column(apps.get_model(app_label, model_name), field)

    def backward(apps, schema_editor) -> None:
        for field in fields:
            decrypt_column(apps.get_model(app_label, model_name), field)

    return migrations.RunPython(forward, backward)
