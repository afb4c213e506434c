"""Every way a request can fail, each followed by a look at the ledger (docs/billing.md)."""

from __future__ import annotations

import socket
import threading
import time

import openai
import pytest
import requests

from billing.models import Hold, LedgerEntry
from catalog import selectors
from gateway import tokens
from gateway.models import UsageRecord
from simulator.testing import closed_port

HELLO = [{"role": "user", "content": "Tell me a story."}]


def point_at_closed_port(provider) -> None:
    provider.base_url = f"http://127.0.0.1:{closed_port()}/v1"
    provider.save()


def test_a_refused_first_route_fails_over_to_the_second_and_charges_once(gateway):
    point_at_closed_port(gateway.primary)
    before = gateway.balance()
    started = time.monotonic()
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    elapsed = time.monotonic() - started
    completion = raw.parse()
    assert raw.headers["x-reapi-provider"] == "sim-b"
    assert completion.choices[0].message.content
    expected = gateway.cost(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert gateway.balance() == before - expected
    assert LedgerEntry.objects.filter(kind="settle").count() == 1
    record = UsageRecord.objects.get()
    assert (record.provider_slug, record.failovers, record.status) == ("sim-b", 1, "ok")
    assert elapsed < 5  # loose: the timing goal lives in bench/, this only catches a hang
    gateway.assert_books_closed()


@pytest.mark.parametrize("status", [429, 500, 503, 529])
def test_retryable_statuses_fail_over(gateway, status):
    gateway.sim.set_fault("a", status=status)
    completion = gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert completion.choices[0].message.content
    assert gateway.sim.request_count("a") == 1
    assert gateway.sim.request_count("b") == 1
    gateway.assert_books_closed()


def test_when_every_route_fails_the_client_gets_502_and_pays_nothing(gateway):
    gateway.sim.set_fault("a", status=503)
    gateway.sim.set_fault("b", status=503)
    before = gateway.balance()
    with pytest.raises(openai.APIStatusError) as failed:
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert failed.value.status_code == 502
    assert failed.value.code == "upstream_error"
    assert gateway.balance() == before
    assert Hold.objects.get().state == "released"
    record = UsageRecord.objects.get()
    assert (record.status, record.charged_micros, record.failovers) == ("upstream_error", 0, 2)
    gateway.assert_books_closed()


def test_a_stream_whose_routes_all_fail_gets_502_before_any_byte(gateway):
    gateway.sim.set_fault("a", reset=True)
    gateway.sim.set_fault("b", status=500)
    before = gateway.balance()
    with pytest.raises(openai.APIStatusError) as failed:
        list(gateway.client().chat.completions.create(model="sim-chat", messages=HELLO,
                                                      stream=True))  # fmt: skip
    assert failed.value.status_code == 502
    assert gateway.balance() == before
    gateway.assert_books_closed()


def test_a_hanging_upstream_is_abandoned_at_the_first_byte_timeout(gateway):
    gateway.primary.first_byte_timeout_ms = 300
    gateway.primary.save()
    gateway.sim.set_fault("a", hang_s=3)
    started = time.monotonic()
    stream = gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    elapsed = time.monotonic() - started
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    assert elapsed < 2.5  # well before the 3 s hang ends
    record = UsageRecord.objects.get()
    assert (record.provider_slug, record.failovers) == ("sim-b", 1)
    gateway.assert_books_closed()


def test_a_non_stream_hang_is_abandoned_at_the_read_timeout(gateway):
    gateway.primary.read_timeout_ms = 300
    gateway.primary.save()
    gateway.sim.set_fault("a", hang_s=3)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    assert raw.headers["x-reapi-provider"] == "sim-b"
    gateway.assert_books_closed()


def test_malformed_upstream_json_fails_over(gateway):
    gateway.sim.set_fault("a", malformed=True)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    assert raw.headers["x-reapi-provider"] == "sim-b"
    gateway.assert_books_closed()


def test_a_stream_cut_midway_ends_with_an_error_and_charges_only_what_was_delivered(gateway):
    gateway.sim.set_fault("a", cut_after=3, tokens=40)
    before = gateway.balance()
    delivered = ""
    stream = gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    with pytest.raises(openai.APIError) as cut:
        for chunk in stream:
            if chunk.choices:
                delivered += chunk.choices[0].delta.content or ""
    assert "interrupted" in str(cut.value.message)
    assert len(delivered.split()) == 3
    # No failover after the first byte: route b was never asked.
    assert gateway.sim.request_count("b") == 0
    expected = gateway.cost(0, tokens.text_tokens_estimate(len(delivered)))
    assert expected > 0
    assert gateway.balance() == before - expected
    record = UsageRecord.objects.get()
    assert (record.status, record.charged_micros, record.estimated) == ("cut", expected, True)
    gateway.assert_books_closed()


def test_a_400_from_the_upstream_reaches_the_client_and_nothing_is_charged(gateway):
    gateway.sim.set_fault("a", status=400)
    before = gateway.balance()
    with pytest.raises(openai.BadRequestError) as rejected:
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert rejected.value.status_code == 400
    assert gateway.sim.request_count("b") == 0  # not retryable: no failover
    assert gateway.balance() == before
    assert UsageRecord.objects.get().status == "client_error"
    gateway.assert_books_closed()


def _read_until(sock: socket.socket, marker: bytes, limit_s: float = 5) -> bytes:
    sock.settimeout(limit_s)
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_client_that_hangs_up_mid_stream_cancels_the_upstream_and_pays_for_what_it_got(
    gateway,
):
    # Slow enough that the client can hang up long before the stream would end.
    gateway.sim.set_fault("a", tokens=200, tokens_per_second=20)
    before = gateway.balance()
    host, port = gateway.url.removeprefix("http://").split(":")
    body = b'{"model":"sim-chat","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {gateway.raw_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(request)
    received = _read_until(sock, b'"content":" ')  # at least one word has arrived
    assert b"200 OK" in received
    sock.close()
    deadline = time.monotonic() + 10
    while not UsageRecord.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record = UsageRecord.objects.get()
    assert record.status == "aborted"
    assert record.output_tokens < 200
    assert record.charged_micros == gateway.cost(record.input_tokens, record.output_tokens)
    assert gateway.balance() == before - record.charged_micros
    # The upstream request was cancelled, not left running to the end.
    deadline = time.monotonic() + 5
    while gateway.sim.stats()["scopes"]["a"]["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.sim.stats()["scopes"]["a"]["in_flight"] == 0
    gateway.assert_books_closed()


def test_twenty_concurrent_streams_never_overdraw(gateway):
    from billing import ledger

    # Each stream holds its worst case: 30 output tokens at 10,000 micro-credits plus a prompt
    # bound of 24 tokens at 1,250 = 330,000 micro-credits; 2 credits cover six at once.
    account = gateway.account()
    ledger.debit(account, amount_micros=account.balance_micros - 2_000_000,
                 idempotency_key="drain", kind="adjustment", memo="test")  # fmt: skip
    gateway.sim.set_fault("a", tokens=30, tokens_per_second=200)
    results: list[str] = []

    def one_stream() -> None:
        try:
            text = ""
            for chunk in gateway.client().chat.completions.create(
                model="sim-chat", messages=HELLO, stream=True, max_tokens=30
            ):
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
            results.append("ok" if text else "empty")
        except openai.APIStatusError as exc:
            results.append(str(exc.status_code))

    threads = [threading.Thread(target=one_stream) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 20
    assert set(results) <= {"ok", "402"}
    assert results.count("ok") >= 1 and results.count("402") >= 1
    charged = sum(UsageRecord.objects.values_list("charged_micros", flat=True))
    assert gateway.balance() == 2_000_000 - charged
    gateway.assert_books_closed()


def test_credits_reports_balance_and_open_holds(gateway):
    response = requests.get(
        gateway.url + "/v1/credits", headers={"x-api-key": gateway.raw_key}, timeout=5
    )
    assert response.status_code == 200
    payload = response.json()
    assert payload["balance_micros"] == gateway.balance()
    assert payload["balance_credits"] == "100"
    assert payload["open_holds"] == 0


def test_a_request_that_outlives_its_hold_is_refunded_by_the_reconciler_and_charged_nothing(
    gateway, settings
):
    from billing import ledger

    settings.HOLD_TTL_S = 1
    gateway.sim.set_fault("a", latency_ms=3000)
    before = gateway.balance()
    results: list[object] = []
    worker = threading.Thread(
        target=lambda: results.append(
            gateway.client().chat.completions.with_raw_response.create(
                model="sim-chat", messages=HELLO
            )
        )
    )
    worker.start()
    released, deadline = 0, time.monotonic() + 2.5  # not a timing goal: a slow box waits more
    while not released and time.monotonic() < deadline:
        time.sleep(0.1)
        released = ledger.release_expired()
    assert released == 1  # the request is still waiting on the upstream
    assert gateway.balance() == before
    worker.join(timeout=10)
    raw = results[0]
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-reapi-credits-charged"] == "0"
    record = UsageRecord.objects.get()
    assert (record.status, record.charged_micros) == ("ok", 0)
    assert gateway.balance() == before
    gateway.assert_books_closed()


@pytest.mark.parametrize(
    "path,body,headers,shape",
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}, {}, "openai"),
        ("/v1/responses", {"input": "Hi"}, {}, "openai"),
        ("/v1/messages", {"max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
         {"anthropic-version": "2023-06-01"}, "anthropic"),
    ],
)  # fmt: skip
def test_a_stream_request_to_a_model_that_cannot_stream_is_refused_in_the_clients_protocol(
    gateway, path, body, headers, shape
):
    gateway.model.supports_streaming = False
    gateway.model.save()
    selectors.invalidate()
    before = gateway.balance()
    response = requests.post(
        gateway.url + path,
        json={"model": "sim-chat", "stream": True, **body},
        headers={"authorization": f"Bearer {gateway.raw_key}", **headers},
        timeout=5,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert "does not support streaming" in error["message"]
    if shape == "anthropic":
        assert response.json()["type"] == "error"
        assert error["type"] == "invalid_request_error"
    else:
        assert error["param"] == "stream" and error["code"] == "stream_not_supported"
    assert gateway.balance() == before
    assert gateway.sim.request_count("a") == 0
    assert not LedgerEntry.objects.filter(account=gateway.account(), kind="hold").exists()

    # The same request without stream is served.
    body = {"model": "sim-chat", **body}
    response = requests.post(
        gateway.url + path,
        json=body,
        headers={"authorization": f"Bearer {gateway.raw_key}", **headers},
        timeout=5,
    )
    assert response.status_code == 200
    assert gateway.balance() < before


@pytest.mark.parametrize(
    "path,body,headers,shape",
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}, {}, "openai"),
        ("/v1/responses", {"input": "Hi"}, {}, "openai"),
        ("/v1/embeddings", {"input": "Hi"}, {}, "openai"),
        ("/v1/messages", {"max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]},
         {"anthropic-version": "2023-06-01"}, "anthropic"),
    ],
)  # fmt: skip
def test_a_field_the_protocol_does_not_define_is_refused_and_charges_nothing(
    gateway, path, body, headers, shape
):
    before = gateway.balance()
    response = requests.post(
        gateway.url + path,
        json={"model": "sim-chat", "temprature": 0.2, **body},  # a typo
        headers={"authorization": f"Bearer {gateway.raw_key}", **headers},
        timeout=5,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    if shape == "anthropic":
        assert response.json()["type"] == "error"
        assert error["message"] == "temprature: Extra inputs are not permitted"
    else:
        assert error["message"] == "Unrecognized request argument supplied: temprature"
        assert error["param"] == "temprature"
    assert gateway.balance() == before
    assert gateway.sim.request_count("a") == 0


def test_anthropic_beta_requests_may_carry_fields_newer_than_we_know(gateway):
    response = requests.post(
        gateway.url + "/v1/messages",
        json={"model": "sim-chat", "max_tokens": 10, "messages": HELLO,
              "some_future_beta_field": {"on": True}},
        headers={"x-api-key": gateway.raw_key, "anthropic-version": "2023-06-01",
                 "anthropic-beta": "some-future-beta-2027-01-01"},
        timeout=5,
    )  # fmt: skip
    assert response.status_code == 200 and response.json()["type"] == "message"
