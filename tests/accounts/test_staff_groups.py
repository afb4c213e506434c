"""Staff roles: catalog editors, support and finance can do their part in admin and no more."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.staff_groups import CATALOG_EDITORS, FINANCE, SUPPORT, ensure_groups
from billing import ledger
from catalog.models import Provider


def member(email: str, group: str) -> Client:
    ensure_groups()
    user = User.objects.create_user(email, "staff-password-1", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def provider(db) -> Provider:
    return Provider.objects.create(
        slug="p1", name="P1", kind="openai", base_url="https://api.example/v1",
        api_key="sk-secret-xyz",
    )  # fmt: skip


def test_support_manages_customers_and_adjusts_balances_but_not_the_catalog(alice, provider):
    support = member("support@example.com", SUPPORT)
    assert support.get(reverse("admin:accounts_user_changelist")).status_code == 200
    answer = support.post(reverse("admin:accounts_user_changelist"),
                          {"action": "suspend", "_selected_action": [alice.pk]})  # fmt: skip
    assert answer.status_code == 302
    alice.refresh_from_db()
    assert alice.suspended_at is not None
    account = ledger.account_for(alice)
    adjust = reverse("admin:billing_creditaccount_adjust", args=[account.pk])
    assert support.get(adjust).status_code == 200
    assert support.get(reverse("admin:catalog_price_add")).status_code == 403
    assert (
        support.get(reverse("admin:catalog_provider_change", args=[provider.pk])).status_code == 403
    )


def test_finance_reads_the_ledger_and_changes_nothing(alice):
    finance = member("finance@example.com", FINANCE)
    assert finance.get(reverse("admin:billing_ledgerentry_changelist")).status_code == 200
    account = ledger.account_for(alice)
    assert (
        finance.get(reverse("admin:billing_creditaccount_adjust", args=[account.pk])).status_code
        == 403
    )
    assert finance.get(reverse("admin:accounts_user_change", args=[alice.pk])).status_code == 403
    assert finance.get(reverse("admin:catalog_model_add")).status_code == 403


def test_catalog_editors_curate_the_catalog_and_see_no_customer_or_secret(alice, provider):
    editor = member("editor@example.com", CATALOG_EDITORS)
    assert editor.get(reverse("admin:catalog_model_add")).status_code == 200
    page = editor.get(reverse("admin:catalog_provider_change", args=[provider.pk]))
    assert page.status_code == 200 and "sk-secret-xyz" not in page.content.decode()
    assert editor.get(reverse("admin:accounts_user_changelist")).status_code == 403
    assert editor.get(reverse("admin:billing_ledgerentry_changelist")).status_code == 403


def test_the_groups_are_made_by_migrate_and_kept_exact(db):
    from django.core.management import call_command

    Group.objects.filter(name=FINANCE).delete()
    call_command("migrate", verbosity=0)  # nothing to apply; its post_migrate still runs
    group = Group.objects.get(name=FINANCE)
    assert {p.codename for p in group.permissions.all()} >= {"view_ledgerentry", "view_hold"}
    assert not group.permissions.filter(codename__startswith="change_").exists()
    group.permissions.clear()
    ensure_groups()
    assert group.permissions.filter(codename="view_ledgerentry").exists()
