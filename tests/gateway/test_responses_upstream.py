"""A model routed to a Responses-API upstream (the simulator's /v1/responses), called by
OpenAI chat, Anthropic and Responses clients: translation both ways over real HTTP, streaming
and tools included, exact charges."""

from __future__ import annotations

import anthropic as anthropic_sdk
import openai
import orjson
import pytest

from catalog import selectors
from catalog.models import Provider, Route
from gateway import tokens
from gateway.models import UsageRecord

HELLO = [{"role": "user", "content": "Say something nice."}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False}}}]  # fmt: skip


@pytest.fixture
def responses_upstream(gateway):
    provider = Provider.objects.create(
        slug="sim-responses", name="Sim Responses", kind="openai_responses",
        base_url=gateway.sim.url("r"), api_key="sk-upstream-test",
        first_byte_timeout_ms=2000, read_timeout_ms=2000,
    )  # fmt: skip
    Route.objects.filter(model=gateway.model, provider=gateway.primary).update(
        provider=provider, upstream_model="gpt-up-codex"
    )
    selectors.invalidate()
    return provider


def test_a_chat_client_is_served_by_a_responses_upstream(gateway, responses_upstream):
    before = gateway.balance()
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=[{"role": "system", "content": "Be kind."}, *HELLO],
        max_tokens=9,
    )  # fmt: skip
    completion = raw.parse()
    assert raw.headers["x-reapi-provider"] == "sim-responses"
    assert completion.model == "sim-chat"
    assert len(completion.choices[0].message.content.split()) == 9
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 9
    expected = gateway.cost(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert expected > 0 and gateway.balance() == before - expected
    assert gateway.sim.request_count("r") == 1
    gateway.assert_books_closed()


def test_a_stream_from_a_responses_upstream_is_charged_from_its_usage(gateway, responses_upstream):
    before = gateway.balance()
    text, usage, finish = "", None, None
    for chunk in gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True},
        max_tokens=12,
    ):  # fmt: skip
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage:
            usage = chunk.usage
    assert len(text.split()) == 12 and usage.completion_tokens == 12 and finish == "length"
    assert gateway.balance() == before - gateway.cost(usage.prompt_tokens, usage.completion_tokens)
    gateway.assert_books_closed()


def test_function_calls_and_their_outputs_cross_a_responses_upstream(gateway, responses_upstream):
    completion = gateway.client().chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS, tool_choice="required",
    )  # fmt: skip
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id
    assert isinstance(orjson.loads(call.function.arguments)["city"], str)
    assert completion.choices[0].finish_reason == "tool_calls"
    follow_up = gateway.client().chat.completions.create(
        model="sim-chat", tools=TOOLS, messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "18C"},
        ],
    )  # fmt: skip
    assert follow_up.choices[0].message.content
    assert follow_up.choices[0].finish_reason == "stop"

    # Streamed: the call arrives as tool_calls deltas whose arguments join to valid JSON.
    arguments, name, finish = "", None, None
    for chunk in gateway.client().chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS, tool_choice="required", stream=True,
    ):  # fmt: skip
        for delta_call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            name = delta_call.function.name or name
            arguments += delta_call.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert name == "get_weather" and "city" in orjson.loads(arguments)
    assert finish == "tool_calls"
    gateway.assert_books_closed()


def test_codex_style_and_anthropic_clients_are_served_by_a_responses_upstream(
    gateway, responses_upstream
):
    before = gateway.balance()
    events = list(gateway.client().responses.create(
        model="sim-chat", instructions="Be brief.", input="Hello", stream=True,
        max_output_tokens=6, store=False,
    ))  # fmt: skip
    assert events[-1].type == "response.incomplete"  # six tokens asked, six given: length
    final = events[-1].response
    assert final.usage.output_tokens == 6
    message = anthropic_sdk.Anthropic(
        base_url=gateway.url, api_key=gateway.raw_key, max_retries=0, timeout=20
    ).messages.create(model="sim-chat", max_tokens=20, messages=HELLO)
    # The upstream's `incomplete: max_output_tokens` reaches the Anthropic client as max_tokens.
    assert len(message.content[0].text.split()) == 20 and message.stop_reason == "max_tokens"
    rows = list(UsageRecord.objects.order_by("id"))
    assert [r.endpoint for r in rows] == ["responses", "messages"]
    assert all(r.provider_slug == "sim-responses" for r in rows)
    assert before - gateway.balance() == sum(r.charged_micros for r in rows)
    gateway.assert_books_closed()


def test_an_unavailable_responses_upstream_fails_over(gateway, responses_upstream):
    gateway.sim.set_fault("r", status=503)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    assert raw.headers["x-reapi-provider"] == "sim-b"
    assert UsageRecord.objects.get().failovers == 1


def test_a_cut_stream_from_a_responses_upstream_charges_only_what_was_delivered(
    gateway, responses_upstream
):
    gateway.sim.set_fault("r", cut_after=3)
    before = gateway.balance()
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in gateway.client().chat.completions.create(
            model="sim-chat", messages=HELLO, stream=True, max_tokens=20
        ):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    assert len(text.split()) == 3
    assert gateway.sim.request_count("b") == 0  # no failover after the first byte
    expected = gateway.cost(0, tokens.text_tokens_estimate(len(text)))
    row = UsageRecord.objects.get()
    assert (row.status, row.charged_micros, row.estimated) == ("cut", expected, True)
    assert gateway.balance() == before - expected
    gateway.assert_books_closed()


def test_chat_parameters_the_responses_api_lacks_go_to_the_next_route(gateway, responses_upstream):
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO, n=2
    )
    assert raw.headers["x-reapi-provider"] == "sim-b"
    assert len(raw.parse().choices) == 2
    assert gateway.sim.request_count("r") == 0
