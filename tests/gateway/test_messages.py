"""Anthropic Messages (/v1/messages) end to end: the anthropic SDK → reAPI → an
OpenAI-compatible upstream (the simulator), translated both ways, the ledger checked."""

from __future__ import annotations

import anthropic
import pytest
import requests

from gateway.models import UsageRecord
from tests.gateway.conftest import CREDIT

HELLO = [{"role": "user", "content": "Say something nice."}]
TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def client(gateway, **kwargs) -> anthropic.Anthropic:
    kwargs.setdefault("api_key", gateway.raw_key)
    return anthropic.Anthropic(base_url=gateway.url, max_retries=0, timeout=20, **kwargs)


def test_a_message_is_answered_in_anthropic_shape_and_charged_exactly(gateway):
    before = gateway.balance()
    raw = client(gateway).messages.with_raw_response.create(
        model="sim-chat", max_tokens=50, messages=HELLO, system="You are kind."
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "sim-chat"
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason == "end_turn"
    usage = message.usage
    expected = gateway.cost(usage.input_tokens, usage.output_tokens)
    assert expected > 0
    assert gateway.balance() == before - expected
    assert raw.headers["request-id"].startswith("req_")
    assert UsageRecord.objects.get().charged_micros == expected
    gateway.assert_books_closed()


def test_max_tokens_reached_is_reported_as_such(gateway):
    message = client(gateway).messages.create(model="sim-chat", max_tokens=3, messages=HELLO)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


def test_a_streamed_message_yields_the_full_event_sequence_and_the_same_charge(gateway):
    before = gateway.balance()
    events = []
    with client(gateway).messages.stream(model="sim-chat", max_tokens=50, messages=HELLO) as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert "content_block_start" in events and "content_block_stop" in events
    assert final.content[0].text.strip()
    expected = gateway.cost(final.usage.input_tokens, final.usage.output_tokens)
    assert gateway.balance() == before - expected
    gateway.assert_books_closed()


def test_tools_are_translated_both_ways(gateway):
    # The simulator answers plain text to OpenAI tool requests; what matters here is that a
    # full tool conversation in Anthropic's shape is accepted, forwarded and answered.
    message = client(gateway).messages.create(
        model="sim-chat",
        max_tokens=40,
        tools=TOOLS,
        tool_choice={"type": "auto"},
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "Thanks, summarise."},
            ]},
        ],
    )  # fmt: skip
    assert message.content and message.content[0].type == "text"


@pytest.mark.parametrize(
    "body,status,kind",
    [
        ({"model": "sim-chat", "messages": HELLO}, 400, "invalid_request_error"),
        ({"model": "sim-chat", "max_tokens": 10, "messages": []}, 400, "invalid_request_error"),
        ({"model": "sim-chat", "max_tokens": 10,
          "messages": [{"role": "wizard", "content": "x"}]}, 400, "invalid_request_error"),
        ({"model": "nope", "max_tokens": 10, "messages": HELLO}, 404, "not_found_error"),
    ],
)  # fmt: skip
def test_errors_come_back_in_anthropic_shape_and_change_nothing(gateway, body, status, kind):
    before = gateway.balance()
    response = requests.post(
        gateway.url + "/v1/messages",
        json=body,
        headers={"x-api-key": gateway.raw_key, "anthropic-version": "2023-06-01"},
        timeout=5,
    )
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == kind
    assert payload["error"]["message"]
    assert gateway.balance() == before
    assert gateway.sim.request_count("a") == 0


def test_auth_and_credit_errors_use_anthropic_types(gateway):
    with pytest.raises(anthropic.AuthenticationError):
        client(gateway, api_key="sk-reapi-wrong").messages.create(
            model="sim-chat", max_tokens=10, messages=HELLO
        )
    from billing import ledger

    account = gateway.account()
    ledger.debit(account, amount_micros=account.balance_micros - 1, idempotency_key="drain",
                 kind="adjustment", memo="test")  # fmt: skip
    response = requests.post(
        gateway.url + "/v1/messages",
        json={"model": "sim-chat", "max_tokens": 10, "messages": HELLO},
        headers={"x-api-key": gateway.raw_key, "anthropic-version": "2023-06-01"},
        timeout=5,
    )
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "billing_error"
    assert response.headers["x-should-retry"] == "false"


def test_the_anthropic_version_header_is_required(gateway):
    response = requests.post(
        gateway.url + "/v1/messages",
        json={"model": "sim-chat", "max_tokens": 10, "messages": HELLO},
        headers={"x-api-key": gateway.raw_key},
        timeout=5,
    )
    assert response.status_code == 400
    assert "anthropic-version" in response.json()["error"]["message"]


def test_all_routes_failing_gives_an_anthropic_error_and_no_charge(gateway):
    gateway.sim.set_fault("a", status=503)
    gateway.sim.set_fault("b", status=503)
    before = gateway.balance()
    with pytest.raises(anthropic.APIStatusError) as failed:
        client(gateway).messages.create(model="sim-chat", max_tokens=10, messages=HELLO)
    assert failed.value.status_code == 502
    assert gateway.balance() == before
    gateway.assert_books_closed()


def test_a_cut_stream_ends_with_an_error_event_and_charges_only_what_was_delivered(gateway):
    gateway.sim.set_fault("a", cut_after=3, tokens=40)
    before = gateway.balance()
    with pytest.raises(anthropic.APIError):
        with client(gateway).messages.stream(
            model="sim-chat", max_tokens=50, messages=HELLO
        ) as stream:
            for _ in stream:
                pass
    record = UsageRecord.objects.get()
    assert record.status == "cut"
    assert gateway.balance() == before - record.charged_micros
    assert 0 < record.charged_micros < CREDIT
    gateway.assert_books_closed()


def test_count_tokens_estimates_the_prompt_for_free(gateway):
    before = gateway.balance()
    counted = client(gateway).messages.count_tokens(model="sim-chat", messages=HELLO)
    assert counted.input_tokens > 0
    assert gateway.balance() == before
    assert gateway.sim.request_count("a") == 0


def test_claude_codes_request_shape_is_accepted(gateway):
    """What Claude Code sends: ?beta=true, anthropic-beta, thinking, a system turn inside
    messages, Bearer auth with a newer version date."""
    response = requests.post(
        gateway.url + "/v1/messages?beta=true",
        json={
            "model": "sim-chat", "max_tokens": 64, "stream": False,
            "system": [{"type": "text", "text": "You are Claude Code."}],
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [
                {"role": "system", "content": "Extra instructions."},
                {"role": "user", "content": [{"type": "text", "text": "List files."}]},
            ],
            "metadata": {"user_id": "session-1"},
        },
        headers={"authorization": f"Bearer {gateway.raw_key}", "anthropic-version": "2025-06-01",
                 "anthropic-beta": "interleaved-thinking-2025-05-14"},
        timeout=5,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["type"] == "text"
