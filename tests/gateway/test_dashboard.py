"""The staff dashboard: the last 24 hours of requests, errors, credits and failovers, top
models, providers in trouble and open breakers; only for staff who may read usage."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import keys
from accounts.models import User
from accounts.staff_groups import CATALOG_EDITORS, FINANCE, ensure_groups
from catalog.models import Model, Provider, Route
from gateway import health
from gateway.models import UpstreamFailure, UsageRecord
from tests.conftest import CREDIT


def row(user, key, n, *, status="ok", charged=CREDIT, failovers=0, provider="sim-a", hours=1):
    UsageRecord.objects.create(
        request_id=f"req_{n}", user=user, api_key=key, endpoint="chat.completions",
        model_slug="m-chat" if n % 2 else "m-image", provider_slug=provider, status=status,
        http_status=200 if status == "ok" else 502, charged_micros=charged if status == "ok"
        else 0, failovers=failovers, created_at=timezone.now() - timedelta(hours=hours),
    )  # fmt: skip


def test_the_dashboard_sums_the_last_day(alice, staff):
    key, _ = keys.create(alice, name="k")
    for n in range(1, 6):
        row(alice, key, n, failovers=1 if n == 1 else 0)
    row(alice, key, 6, status="upstream_error", provider="")
    row(alice, key, 7, hours=30)  # older than a day
    for n in range(3):
        UpstreamFailure.objects.create(request_id=f"req_f{n}", provider_slug="sim-b",
                                       model_slug="m-chat", reason="status_503")  # fmt: skip
    provider = Provider.objects.create(slug="sim-b", name="B", kind="simulator",
                                       base_url="http://127.0.0.1:9/v1")  # fmt: skip
    model = Model.objects.create(slug="m-chat", display_name="M", kind="chat", owned_by="x")
    route = Route.objects.create(model=model, provider=provider, upstream_model="u")
    health.set_state(route.id, open_for_s=60)
    admin = Client()
    admin.force_login(staff)
    page = admin.get(reverse("staff-dashboard")).content.decode()
    assert '<td id="requests">6</td>' in page and '<td id="errors">1</td>' in page
    assert '<td id="charged">5</td>' in page and '<td id="failovers">1</td>' in page
    assert "<td>sim-b</td><td>3</td><td>100%</td>" in page
    assert "<li>sim-b → m-chat</li>" in page
    assert "Last 24 hours" in admin.get(reverse("admin:index")).content.decode()
    health.set_state(route.id, open_for_s=None)


def test_a_brands_customers_count_at_what_the_reseller_pays_us(alice, staff):
    """A white-label customer pays the brand's price to the brand; the operator earns the
    wholesale price from the reseller. The dashboard's credits are the operator's."""
    from tests.brands.conftest import make_brand

    rita = User.objects.create_user("rita@example.com", "rita-password-1")
    carol = User.objects.create_user("carol@example.com", "carol-password-1",
                                     brand=make_brand(rita))  # fmt: skip
    row(alice, None, 1, charged=3 * CREDIT)  # our own customer: 3 credits
    UsageRecord.objects.create(
        request_id="req_brand", user=carol, endpoint="chat.completions", model_slug="m-chat",
        provider_slug="sim-a", status="ok", http_status=200, charged_micros=5 * CREDIT,
        wholesale_micros=4 * CREDIT,
    )  # fmt: skip
    admin = Client()
    admin.force_login(staff)
    page = admin.get(reverse("staff-dashboard")).content.decode()
    assert '<td id="charged">7</td>' in page  # 3 + 4, not 3 + 5
    assert '<td id="brand-retail">5</td>' in page
    assert "<td>m-chat</td><td>2</td><td>0</td><td>7</td>" in page


def test_only_staff_who_may_read_usage_see_it(db):
    ensure_groups()
    from django.contrib.auth.models import Group

    editor = User.objects.create_user("ed@example.com", "pw-123456789", is_staff=True)
    editor.groups.add(Group.objects.get(name=CATALOG_EDITORS))
    finance = User.objects.create_user("fi@example.com", "pw-123456789", is_staff=True)
    finance.groups.add(Group.objects.get(name=FINANCE))
    client = Client()
    client.force_login(editor)
    assert client.get(reverse("staff-dashboard")).status_code == 403
    client.force_login(finance)
    assert client.get(reverse("staff-dashboard")).status_code == 200
    assert Client().get(reverse("staff-dashboard")).status_code == 302  # to the admin login


def test_staff_test_a_route_with_one_tiny_free_request(gateway, staff):
    from gateway.models import RouteHealth

    primary = RouteHealth.objects.get(provider=gateway.primary)
    backup = RouteHealth.objects.get(provider=gateway.backup)
    gateway.sim.set_fault("b", status=503)
    before = gateway.balance()
    admin = Client()
    admin.force_login(staff)
    answer = admin.post(
        reverse("admin:gateway_routehealth_changelist"),
        {"action": "test_route", "_selected_action": [primary.pk, backup.pk]},
        follow=True,
    )
    page = answer.content.decode().lower()  # admin messages start with a capital
    assert '<li class="success">sim-a → sim-chat: 200 in' in page
    assert '<li class="error">sim-b → sim-chat: http 503' in page
    assert gateway.balance() == before and not UsageRecord.objects.exists()
    assert gateway.sim.request_count("a") == 1


def test_a_customers_admin_page_sums_their_money_and_usage(alice, staff):
    from billing import ledger

    key, _ = keys.create(alice, name="k")
    ledger.grant(ledger.account_for(alice), amount_micros=7 * CREDIT, idempotency_key="g")
    row(alice, key, 1, charged=2 * CREDIT)
    ledger.reserve(ledger.account_for(alice), amount_micros=CREDIT, request_id="open-1")
    admin = Client()
    admin.force_login(staff)
    page = admin.get(reverse("admin:accounts_user_change", args=[alice.pk])).content.decode()
    assert "<th>Balance</th><td>6 credits</td>" in page  # 7 granted, 1 held
    assert "<th>Open holds</th><td>1</td>" in page
    assert "<th>Requests in 30 days</th><td>1 (2 credits)</td>" in page
    assert f"?user__id__exact={alice.pk}" in page
    jobs = admin.get(reverse("admin:gateway_videojob_changelist"))
    assert jobs.status_code == 200


def test_cloning_a_model_copies_routes_and_price_disabled(db, staff):
    from datetime import UTC, datetime

    from catalog.models import Price

    provider = Provider.objects.create(slug="p", name="P", kind="simulator",
                                       base_url="http://127.0.0.1:9/v1")  # fmt: skip
    model = Model.objects.create(slug="m1", display_name="M1", kind="chat", owned_by="x")
    Route.objects.create(model=model, provider=provider, upstream_model="up", priority=3)
    Price.objects.create(model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC),
                         input_micros_per_mtok=5, output_micros_per_mtok=7)  # fmt: skip
    admin = Client()
    admin.force_login(staff)
    admin.post(reverse("admin:catalog_model_changelist"),
               {"action": "clone", "_selected_action": [model.pk]})  # fmt: skip
    copy = Model.objects.get(slug="m1-copy")
    assert not copy.enabled and copy.routes.get().priority == 3
    price = copy.prices.get()
    assert (price.input_micros_per_mtok, price.output_micros_per_mtok) == (5, 7)
    admin.post(reverse("admin:catalog_model_changelist"),
               {"action": "clone", "_selected_action": [model.pk]})  # fmt: skip
    assert Model.objects.filter(slug="m1-copy-2").exists()


def test_a_providers_page_shows_its_routes_live_breakers_and_saves(db, staff):
    provider = Provider.objects.create(
        slug="pv", name="PV", kind="simulator", base_url="http://127.0.0.1:9/v1",
        api_key="sk-hidden-1",
    )  # fmt: skip
    model = Model.objects.create(slug="m-x", display_name="MX", kind="chat", owned_by="x")
    route = Route.objects.create(model=model, provider=provider, upstream_model="up-x")
    health.set_state(route.id, open_for_s=60)
    admin = Client()
    admin.force_login(staff)
    url = reverse("admin:catalog_provider_change", args=[provider.pk])
    page = admin.get(url).content.decode()
    assert "up-x" in page and ">open<" in page and "sk-hidden-1" not in page
    health.set_state(route.id, open_for_s=None)
    form = {"slug": "pv", "name": "PV renamed", "kind": "simulator",
            "base_url": "http://127.0.0.1:9/v1", "api_key": "", "enabled": "on",
            "connect_timeout_ms": 1000, "first_byte_timeout_ms": 1000, "read_timeout_ms": 1000,
            "options": "{}", "notes": "",
            "routes-TOTAL_FORMS": "1", "routes-INITIAL_FORMS": "1",
            "routes-MIN_NUM_FORMS": "0", "routes-MAX_NUM_FORMS": "1000",
            "routes-0-id": route.pk, "routes-0-provider": provider.pk}  # fmt: skip
    answer = admin.post(url, form)
    assert answer.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "PV renamed" and provider.api_key == "sk-hidden-1"
