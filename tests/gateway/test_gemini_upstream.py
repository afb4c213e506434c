"""A model routed to a Gemini-protocol upstream (the simulator's generateContent), called by
OpenAI, Anthropic and Responses clients: translation both ways over real HTTP, exact charges."""

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
                   "required": ["city"], "additionalProperties": False}}}]  # fmt: skip


@pytest.fixture
def gemini(gateway):
    return first_route_to(gateway, kind="gemini", scope="g", upstream_model="gemini-up")


def test_an_openai_client_is_served_by_a_gemini_upstream(gateway, gemini):
    before = gateway.balance()
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=[{"role": "system", "content": "Be kind."}, *HELLO]
    )
    completion = raw.parse()
    assert raw.headers["x-reapi-provider"] == "sim-gemini"
    assert completion.choices[0].message.content.strip()
    expected = gateway.cost(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert expected > 0 and gateway.balance() == before - expected
    assert gateway.sim.request_count("g") == 1
    gateway.assert_books_closed()


def test_a_stream_from_a_gemini_upstream_is_charged_from_its_usage(gateway, gemini):
    before = gateway.balance()
    text, usage = "", None
    for chunk in gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True},
        max_tokens=12,
    ):  # fmt: skip
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text.strip() and usage.completion_tokens == 12
    assert gateway.balance() == before - gateway.cost(usage.prompt_tokens, usage.completion_tokens)
    gateway.assert_books_closed()


def test_function_calls_come_back_from_a_gemini_upstream(gateway, gemini):
    completion = gateway.client().chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS, tool_choice="required",
    )  # fmt: skip
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(orjson.loads(call.function.arguments)["city"], str)
    assert completion.choices[0].finish_reason == "tool_calls"
    # The result goes back as a Gemini functionResponse and the turn completes.
    follow_up = gateway.client().chat.completions.create(
        model="sim-chat", tools=TOOLS, messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "18C"},
        ],
    )  # fmt: skip
    assert follow_up.choices[0].message.content


def test_anthropic_and_responses_clients_are_served_by_a_gemini_upstream(gateway, gemini):
    message = anthropic_sdk.Anthropic(
        base_url=gateway.url, api_key=gateway.raw_key, max_retries=0, timeout=20
    ).messages.create(model="sim-chat", max_tokens=20, messages=HELLO)
    assert message.content[0].text.strip()
    response = gateway.client().responses.create(model="sim-chat", input="Hello")
    assert response.status == "completed" and response.output_text.strip()
    gateway.assert_books_closed()


def test_an_unavailable_gemini_upstream_fails_over(gateway, gemini):
    gateway.sim.set_fault("g", status=503)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="sim-chat", messages=HELLO
    )
    assert raw.headers["x-reapi-provider"] == "sim-b"
    assert UsageRecord.objects.get().failovers == 1


def test_a_400_from_a_gemini_upstream_is_passed_back_uncharged(gateway, gemini):
    gateway.sim.set_fault("g", status=400)
    before = gateway.balance()
    with pytest.raises(openai.BadRequestError):
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert gateway.balance() == before
