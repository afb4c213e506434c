"""The Responses API (/v1/responses, what Codex CLI speaks) end to end with the openai SDK."""

from __future__ import annotations

import openai
import orjson
import pytest
import requests

from catalog import selectors
from catalog.models import Provider, Route
from gateway.models import UsageRecord

SHELL = {"type": "function", "name": "shell", "description": "Run a command",
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                        "required": ["cmd"]}, "strict": False}  # fmt: skip


def test_a_response_is_answered_and_charged_exactly(gateway):
    before = gateway.balance()
    response = gateway.client().responses.create(
        model="sim-chat", instructions="Be brief.", input="Say something nice."
    )
    assert response.status == "completed"
    assert response.model == "sim-chat"
    assert response.output_text.strip()
    usage = response.usage
    expected = gateway.cost(usage.input_tokens, usage.output_tokens)
    assert expected > 0 and gateway.balance() == before - expected
    assert UsageRecord.objects.get().charged_micros == expected
    gateway.assert_books_closed()


def test_a_streamed_response_ends_in_response_completed_with_usage(gateway):
    before = gateway.balance()
    stream = gateway.client().responses.create(
        model="sim-chat", input=[{"type": "message", "role": "user",
                                  "content": [{"type": "input_text", "text": "Hi"}]}],
        stream=True, max_output_tokens=200,
    )  # fmt: skip
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = next(e for e in events if e.type == "response.output_text.done")
    assert text.strip() and done.text == text
    usage = events[-1].response.usage
    assert gateway.balance() == before - gateway.cost(usage.input_tokens, usage.output_tokens)
    gateway.assert_books_closed()


def test_max_output_tokens_makes_the_response_incomplete(gateway):
    response = gateway.client().responses.create(
        model="sim-chat", input="Tell me a story.", max_output_tokens=3
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"


def test_a_codex_style_turn_with_tool_history_and_unknown_tools_is_accepted(gateway):
    response = gateway.client().responses.create(
        model="sim-chat",
        instructions="You are a coding agent.",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text",
                                                             "text": "List the files."}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xyz"},
            {"type": "function_call", "call_id": "call_1", "name": "shell",
             "arguments": "{\"cmd\": \"ls\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "README.md"},
        ],
        tools=[SHELL, {"type": "web_search"}],
        tool_choice="auto",
        reasoning={"effort": "medium", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        store=False,
        stream=False,
    )  # fmt: skip
    assert response.status == "completed" and response.output_text


def test_previous_response_id_is_refused_clearly_and_charges_nothing(gateway):
    before = gateway.balance()
    with pytest.raises(openai.BadRequestError) as refused:
        gateway.client().responses.create(
            model="sim-chat", input="Hi", previous_response_id="resp_123"
        )
    assert refused.value.param == "previous_response_id"
    assert gateway.balance() == before


def test_bad_input_gets_an_openai_error(gateway):
    response = requests.post(
        gateway.url + "/v1/responses", json={"model": "sim-chat"},
        headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5,
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input"


def test_function_calls_stream_as_response_items(gateway):
    # Route the model to the simulator's Anthropic protocol, which can answer with tool use.
    provider = Provider.objects.create(
        slug="sim-anthropic", name="Sim Anthropic", kind="anthropic",
        base_url=gateway.sim.url("c", suffix=""), api_key="sk-ant-test",
    )  # fmt: skip
    Route.objects.filter(model=gateway.model, provider=gateway.primary).update(provider=provider)
    selectors.invalidate()
    final = gateway.client().responses.create(
        model="sim-chat", input="Run ls", tools=[SHELL], tool_choice="required"
    )
    call = next(item for item in final.output if item.type == "function_call")
    assert call.name == "shell" and "cmd" in orjson.loads(call.arguments)
    events = list(gateway.client().responses.create(
        model="sim-chat", input="Run ls", tools=[SHELL], tool_choice="required", stream=True
    ))  # fmt: skip
    arguments = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta"
    )
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert orjson.loads(arguments) == orjson.loads(done.arguments) == orjson.loads(call.arguments)
    assert events[-1].type == "response.completed"
