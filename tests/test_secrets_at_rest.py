"""Secrets at rest (reapi/encryption.py): what a database dump shows of the providers' API
keys, brands' Stripe secrets and customers' webhook signing secrets is ciphertext; the code
that uses them still gets the secret; keys rotate without losing one."""

from __future__ import annotations

import pytest
from django.core import serializers
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts import services
from brands.models import Brand
from catalog import selectors
from catalog.models import Model, Provider, Route
from reapi.encryption import PREFIX, SecretUnreadable, encrypt_column, seal_in_place

PROVIDER_KEY = "sk-upstream-0123456789abcdef"
OLD, NEW = "old-key-material-0123456789", "new-key-material-9876543210"


def stored(table: str, column: str, pk: int) -> str:
    """The column as a dump of the database would show it."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def provider_with_route(key: str) -> Provider:
    provider = Provider.objects.create(
        slug="up", name="Up", kind="openai", base_url="https://up.invalid/v1", api_key=key
    )
    model = Model.objects.create(slug="m-secret", display_name="M", kind="chat")
    Route.objects.create(model=model, provider=provider, upstream_model="m", priority=0)
    selectors.invalidate()
    return provider


@pytest.mark.django_db
def test_a_provider_key_is_ciphertext_in_the_database_and_the_key_itself_on_the_route():
    provider = provider_with_route(PROVIDER_KEY)
    raw = stored("catalog_provider", "api_key", provider.pk)
    assert raw.startswith(PREFIX) and PROVIDER_KEY not in raw
    # Two saves of the same key store different ciphertexts (randomised encryption).
    provider.save()
    assert stored("catalog_provider", "api_key", provider.pk) != raw
    # What the adapters send upstream (catalog snapshot → route) is the key itself.
    (route,) = selectors.get_model("m-secret").routes
    assert route.api_key == PROVIDER_KEY
    assert Provider.objects.get(pk=provider.pk).api_key == PROVIDER_KEY
    # No key stays empty: nothing to encrypt, and "has no key" still reads as such.
    keyless = Provider.objects.create(slug="free", name="F", kind="simulator", base_url="http://x")
    assert stored("catalog_provider", "api_key", keyless.pk) == ""
    assert not Provider.objects.get(pk=keyless.pk).has_api_key


@pytest.mark.django_db
def test_brand_stripe_secrets_and_webhook_secrets_are_ciphertext(alice, bob):
    brand = Brand.objects.create(
        slug="acme", name="Acme", domain="acme.test", owner=bob,
        stripe_secret_key="sk_test_acme_123", stripe_webhook_secret="whsec_acme_456",
    )  # fmt: skip
    for column, secret in (("stripe_secret_key", "sk_test_acme_123"),
                           ("stripe_webhook_secret", "whsec_acme_456")):  # fmt: skip
        raw = stored("brands_brand", column, brand.pk)
        assert raw.startswith(PREFIX) and secret not in raw
    brand = Brand.objects.get(pk=brand.pk)
    assert (brand.stripe_secret_key, brand.stripe_webhook_secret) == (
        "sk_test_acme_123", "whsec_acme_456",
    )  # fmt: skip
    assert Brand.objects.filter(stripe_webhook_secret__gt="").count() == 1

    secret = services.webhook_secret(alice)
    raw = stored("accounts_user", "webhook_secret", alice.pk)
    assert raw.startswith(PREFIX) and secret not in raw
    alice.refresh_from_db()
    assert services.webhook_secret(alice) == secret


@pytest.mark.django_db
def test_a_key_rotates_without_losing_a_secret(settings, capsys):
    settings.SECRETS_ENCRYPTION_KEYS = [OLD]
    provider = provider_with_route(PROVIDER_KEY)
    sealed_by_old = stored("catalog_provider", "api_key", provider.pk)

    # A new key first, the old one kept: old ciphertext still opens.
    settings.SECRETS_ENCRYPTION_KEYS = [
        "new-key-material-9876543210",
        "old-key-material-0123456789",
    ]
    assert Provider.objects.get(pk=provider.pk).api_key == PROVIDER_KEY
    call_command("reencrypt_secrets")
    out = capsys.readouterr().out
    assert "catalog.Provider.api_key: 1 re-encrypted" in out and PROVIDER_KEY not in out
    assert stored("catalog_provider", "api_key", provider.pk) != sealed_by_old

    # The old key removed: everything opens with the new one alone.
    settings.SECRETS_ENCRYPTION_KEYS = [NEW]
    assert Provider.objects.get(pk=provider.pk).api_key == PROVIDER_KEY

    # Only a wrong key: a clear error naming the field, never the secret or its ciphertext.
    settings.SECRETS_ENCRYPTION_KEYS = [OLD]
    with pytest.raises(SecretUnreadable) as failure:
        Provider.objects.get(pk=provider.pk)
    message = str(failure.value)
    assert "catalog.Provider.api_key" in message and "SECRETS_ENCRYPTION_KEYS" in message
    assert PROVIDER_KEY not in message and PREFIX not in message


@pytest.mark.django_db
def test_the_migration_encrypts_plain_rows_in_place_and_back():
    """Rows written before the migration (plain text in the column) are sealed by its step,
    and its reverse opens them again."""
    provider = provider_with_route("")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_provider SET api_key = %s WHERE id = %s", [PROVIDER_KEY, provider.pk]
        )
    # The step as the migrations run it, on the models as they stand at that point (the
    # column declared as plain text).
    state = MigrationExecutor(connection).loader.project_state(
        ("catalog", "0005_price_notice"), at_end=True
    )
    step = seal_in_place("catalog", "Provider", "api_key")
    step.code(state.apps, None)
    assert stored("catalog_provider", "api_key", provider.pk).startswith(PREFIX)
    assert Provider.objects.get(pk=provider.pk).api_key == PROVIDER_KEY
    # Again: nothing left to seal.
    assert encrypt_column(state.apps.get_model("catalog", "Provider"), "api_key") == 0

    step.reverse_code(state.apps, None)
    assert stored("catalog_provider", "api_key", provider.pk) == PROVIDER_KEY
    with pytest.raises(SecretUnreadable, match="unencrypted"):
        Provider.objects.get(pk=provider.pk)


@pytest.mark.django_db
def test_a_dump_of_the_database_holds_the_secret_sealed_and_loads_back():
    """dumpdata/loaddata: a fixture or backup made from the rows is as sealed as the rows."""
    provider = provider_with_route(PROVIDER_KEY)
    dumped = serializers.serialize("json", [provider])
    assert PROVIDER_KEY not in dumped and PREFIX in dumped
    Provider.objects.filter(pk=provider.pk).update(api_key="")
    (restored,) = serializers.deserialize("json", dumped)
    restored.save()
    assert Provider.objects.get(pk=provider.pk).api_key == PROVIDER_KEY


@pytest.mark.django_db
def test_a_brands_pages_do_not_need_its_stripe_secrets(bob, settings):
    """The brand snapshot (every page and API call of a brand's customers) never reads the
    Stripe secrets: one no key opens any more breaks its Stripe checkout, not its site."""
    from brands import selectors as brand_selectors

    settings.SECRETS_ENCRYPTION_KEYS = [OLD]
    brand = Brand.objects.create(
        slug="acme", name="Acme", domain="acme.test", owner=bob,
        stripe_secret_key="sk_test_acme_123", stripe_webhook_secret="whsec_acme_456",
    )  # fmt: skip
    settings.SECRETS_ENCRYPTION_KEYS = [NEW]
    selectors.invalidate()  # every snapshot, the brands' included
    assert brand_selectors.get(brand.pk).name == "Acme"
    assert brand_selectors.for_host("acme.test").id == brand.pk
