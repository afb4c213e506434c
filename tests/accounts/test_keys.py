from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_new_key_authenticates_and_only_its_hash_is_stored(alice):
    key, raw = keys.create(alice, name="laptop")
    assert raw.startswith("sk-reapi-") and len(raw) > 40
    found = keys.authenticate(raw)
    assert found.id == key.pk and found.owner_id == alice.pk
    key.refresh_from_db()
    assert key.hashed_secret == keys.hash_secret(raw)
    assert raw.startswith(key.prefix) and len(key.prefix) < len(raw) // 2


def test_the_raw_key_appears_nowhere_in_the_database(alice):
    _, raw = keys.create(alice, name="laptop")
    keys.authenticate(raw)
    secret_part = raw[len(keys.KEY_PREFIX) + 6 :]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT * FROM {quoted}")  # noqa: S608 (table names from introspection)
            for row in cursor.fetchall():
                assert secret_part not in repr(row), f"raw key found in {table}"


@pytest.mark.parametrize(
    "raw",
    ["", None, "sk-reapi-unknown-key-000000000000000000000000", "Bearer x", "sk-" + "a" * 500],
)
def test_unknown_or_malformed_keys_are_rejected(raw):
    with pytest.raises(keys.InvalidKey):
        keys.authenticate(raw)


def test_a_revoked_key_is_rejected_at_once(alice):
    key, raw = keys.create(alice, name="k")
    keys.authenticate(raw)  # cached now
    keys.revoke(key)
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(raw)


def test_an_expired_key_is_rejected(alice):
    _, raw = keys.create(alice, name="k", expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(keys.KeyExpired):
        keys.authenticate(raw)


def test_a_key_that_expires_while_cached_is_rejected(alice):
    key, raw = keys.create(alice, name="k", expires_at=timezone.now() + timedelta(hours=1))
    keys.authenticate(raw)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    keys.forget_cached(key)
    with pytest.raises(keys.KeyExpired):
        keys.authenticate(raw)


def test_keys_of_a_suspended_or_closed_account_are_rejected(alice):
    from accounts.services import user_close

    key, raw = keys.create(alice, name="k")
    alice.suspended_at = timezone.now()
    alice.save()
    keys.forget_cached_for(alice)
    with pytest.raises(keys.AccountSuspended):
        keys.authenticate(raw)
    alice.suspended_at = None
    alice.save()
    keys.forget_cached_for(alice)
    assert keys.authenticate(raw).id == key.pk
    user_close(alice)
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(raw)


def test_rotation_issues_a_new_secret_with_the_same_settings_and_kills_the_old(alice):
    key, old_raw = keys.create(alice, name="ci", allowed_models=["gpt-5.1"], rpm_limit=60)
    new_key, new_raw = keys.rotate(key)
    assert new_raw != old_raw
    assert new_key.name == "ci" and new_key.allowed_models == ["gpt-5.1"]
    assert new_key.rpm_limit == 60
    with pytest.raises(keys.KeyRevoked):
        keys.authenticate(old_raw)
    assert keys.authenticate(new_raw).allows_model("gpt-5.1")
    assert not keys.authenticate(new_raw).allows_model("claude-haiku-4.5")


def test_last_used_is_recorded_without_a_write_on_every_request(alice, django_assert_num_queries):
    key, raw = keys.create(alice, name="k")
    keys._last_touch.clear()
    keys.authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at is not None
    # Cached lookup and a recent touch: the next calls cost no query at all.
    with django_assert_num_queries(0):
        for _ in range(5):
            keys.authenticate(raw)
