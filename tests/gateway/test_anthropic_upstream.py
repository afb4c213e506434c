"""A model routed to an Anthropic-protocol upstream (the simulator's /v1/messages), called
by OpenAI and Anthropic clients: translation both ways, over real HTTP, charged exactly."""

from __future__ import annotations

import anthropic as anthropic_sdk
import openai
import orjson
import pytest

from gateway.models import UsageRecord
from tests.gateway.conftest import first_route_to

HELLO = [{"role": "user", "content": "Say something nice."}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]  # fmt: skip


@pytest.fixture
def claude(gateway):
    """sim-chat's first route now speaks Anthropic Messages; the second stays OpenAI."""
    return first_route_to(gateway, kind="anthropic", scope="c", upstream_model="claude-up")


def test_an_openai_client_is_served_by_an_anthropic_upstream(gateway, claude):
    before = gateway.balance()
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=[{"role": "system", "content": "Be kind."}, *HELLO]
    )
    completion = raw.parse()
    assert raw.headers["x-reapi-provider"] == "sim-anthropic"
    assert completion.choices[0].message.content.strip()
    assert completion.choices[0].finish_reason == "stop"
    expected = gateway.cost(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert expected > 0 and gateway.balance() == before - expected
    assert gateway.sim.request_count("c") == 1
    gateway.assert_books_closed()


def test_an_openai_stream_is_served_by_an_anthropic_upstream(gateway, claude):
    before = gateway.balance()
    text, usage = "", None
    for chunk in gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True},
        max_tokens=20,
    ):  # fmt: skip
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert len(text.split()) == usage.completion_tokens == 20
    assert gateway.balance() == before - gateway.cost(usage.prompt_tokens, usage.completion_tokens)
    gateway.assert_books_closed()


def test_tool_calls_come_back_from_an_anthropic_upstream(gateway, claude):
    completion = gateway.client().chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS, tool_choice="required",
    )  # fmt: skip
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(orjson.loads(call.function.arguments)["city"], str)
    assert completion.choices[0].finish_reason == "tool_calls"
    streamed = ""
    for chunk in gateway.client().chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS, tool_choice="required", stream=True,
    ):  # fmt: skip
        for delta_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            streamed += delta_call.function.arguments or ""
    assert orjson.loads(streamed) == orjson.loads(call.function.arguments)


def test_an_anthropic_client_is_served_end_to_end_by_an_anthropic_upstream(gateway, claude):
    before = gateway.balance()
    client = anthropic_sdk.Anthropic(base_url=gateway.url, api_key=gateway.raw_key,
                                     max_retries=0, timeout=20)  # fmt: skip
    message = client.messages.create(model="sim-chat", max_tokens=30, messages=HELLO)
    assert message.content[0].text.strip()
    expected = gateway.cost(message.usage.input_tokens, message.usage.output_tokens)
    assert gateway.balance() == before - expected
    gateway.assert_books_closed()


def test_an_overloaded_anthropic_upstream_fails_over_to_the_next_route(gateway, claude):
    gateway.sim.set_fault("c", status=529)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    assert raw.headers["x-reapi-provider"] == "sim-b"
    assert UsageRecord.objects.get().failovers == 1
    gateway.assert_books_closed()


def test_a_400_from_an_anthropic_upstream_reaches_the_client_uncharged(gateway, claude):
    gateway.sim.set_fault("c", status=400)
    before = gateway.balance()
    with pytest.raises(openai.BadRequestError):
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert gateway.sim.request_count("b") == 0
    assert gateway.balance() == before
    gateway.assert_books_closed()
