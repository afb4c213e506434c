"""Circuit breakers: a failing route is put last after a few failures, so later requests
do not pay for it, and is tried again after the cooldown."""

from __future__ import annotations

import time

from gateway import health
from gateway.models import UsageRecord

HELLO = [{"role": "user", "content": "Hello"}]


def served_by(gateway) -> str:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    return raw.headers["x-reapi-provider"]


def test_a_failing_route_is_skipped_once_its_breaker_opens_and_retried_after(gateway, settings):
    settings.BREAKER_FAILURES = 2
    settings.BREAKER_COOLDOWN_S = 1
    route_a = gateway.model.routes.get(provider=gateway.primary)
    gateway.sim.set_fault("a", status=503)
    assert [served_by(gateway) for _ in range(2)] == ["sim-b", "sim-b"]
    assert health.state(route_a.pk) == "open"
    # While open, route a is not asked at all: no failover cost.
    for _ in range(3):
        assert served_by(gateway) == "sim-b"
    assert gateway.sim.request_count("a") == 2
    assert list(UsageRecord.objects.order_by("id").values_list("failovers", flat=True)) == [
        1, 1, 0, 0, 0,
    ]  # fmt: skip
    # After the cooldown the route is tried again; it has recovered, so the breaker closes.
    gateway.sim.clear_fault("a")
    time.sleep(1.1)
    assert served_by(gateway) == "sim-a"
    assert health.state(route_a.pk) == "closed"
    gateway.assert_books_closed()


def test_a_half_open_route_that_still_fails_opens_again(gateway, settings):
    settings.BREAKER_FAILURES = 1
    settings.BREAKER_COOLDOWN_S = 1
    route_a = gateway.model.routes.get(provider=gateway.primary)
    gateway.sim.set_fault("a", status=500)
    assert served_by(gateway) == "sim-b"
    time.sleep(1.1)
    assert health.state(route_a.pk) == "half-open"
    assert served_by(gateway) == "sim-b"  # the trial failed over
    assert health.state(route_a.pk) == "open"
    assert gateway.sim.request_count("a") == 2


def test_client_errors_do_not_trip_the_breaker(gateway, settings):
    settings.BREAKER_FAILURES = 1
    route_a = gateway.model.routes.get(provider=gateway.primary)
    gateway.sim.set_fault("a", status=400, times=3)
    for _ in range(3):
        response = gateway.client().chat.completions.with_raw_response
        try:
            response.create(model="sim-chat", messages=HELLO)
        except Exception:  # noqa: BLE001, S110 (the 400 is expected; the breaker is the point)
            pass
    assert health.state(route_a.pk) == "closed"


def test_staff_can_force_a_breaker_open_and_closed(gateway):
    route_a = gateway.model.routes.get(provider=gateway.primary)
    health.set_state(route_a.pk, open_for_s=60)
    assert served_by(gateway) == "sim-b"
    assert gateway.sim.request_count("a") == 0
    health.set_state(route_a.pk, open_for_s=None)
    assert served_by(gateway) == "sim-a"


def test_staff_see_breakers_and_force_them_in_admin(gateway):
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User

    staff = User.objects.create_superuser("ops@example.com", "ops-password-1")
    client = Client()
    client.force_login(staff)
    route_a = gateway.model.routes.get(provider=gateway.primary)
    url = reverse("admin:gateway_routehealth_changelist")
    page = client.get(url)
    assert page.status_code == 200 and "closed" in page.content.decode()
    client.post(url, {"action": "force_open", "_selected_action": [route_a.pk]})
    assert health.state(route_a.pk) == "open"
    assert served_by(gateway) == "sim-b"
    client.post(url, {"action": "force_closed", "_selected_action": [route_a.pk]})
    assert health.state(route_a.pk) == "closed"
    assert served_by(gateway) == "sim-a"
    usage = client.get(reverse("admin:gateway_usagerecord_changelist"))
    assert usage.status_code == 200 and "sim-chat" in usage.content.decode()


def test_failed_attempts_are_recorded_per_provider_and_shown_to_staff(gateway):
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from gateway.models import UpstreamFailure

    gateway.sim.set_fault("a", status=503, times=2)
    for _ in range(3):
        served_by(gateway)
    failures = list(UpstreamFailure.objects.values_list("provider_slug", "reason"))
    assert failures == [("sim-a", "http 503")] * 2
    # Metadata only: the request ids match usage rows, and nothing else is kept.
    assert set(UpstreamFailure.objects.values_list("request_id", flat=True)) <= set(
        UsageRecord.objects.values_list("request_id", flat=True)
    )
    staff = User.objects.create_superuser("ops@example.com", "ops-password-1")
    client = Client()
    client.force_login(staff)
    page = client.get(reverse("admin:gateway_routehealth_changelist")).content.decode()
    assert '<td class="field-failures_24h">2</td>' in page
    listing = client.get(
        reverse("admin:gateway_upstreamfailure_changelist") + "?provider_slug=sim-a"
    )
    assert listing.status_code == 200 and "http 503" in listing.content.decode()


def test_within_a_priority_the_faster_route_gets_most_of_the_traffic(gateway):
    from catalog import selectors
    from catalog.models import Route

    Route.objects.filter(model=gateway.model).update(priority=0, weight=100)
    selectors.invalidate()
    gateway.sim.set_fault("a", latency_ms=300)
    served = [served_by(gateway) for _ in range(30)]
    # Equal weights; a is ~100x slower, so once both are measured a keeps only the floor
    # share (health.MIN_SHARE) of its weight: it is still sampled now and then.
    assert served.count("sim-b") >= 24, served
    route_a = gateway.model.routes.get(provider=gateway.primary)
    route_b = gateway.model.routes.get(provider=gateway.backup)
    factors = health.latency_factor([route_a.id, route_b.id])
    assert factors == {route_a.id: health.MIN_SHARE, route_b.id: 1.0}
