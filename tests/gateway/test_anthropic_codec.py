"""The Anthropic ↔ OpenAI translation, tested directly (PROTOCOLS.md §5)."""

from __future__ import annotations

import orjson
import pytest

from catalog.pricing import TokenUsage
from gateway.codecs import anthropic
from gateway.errors import ApiError


def test_a_tool_conversation_maps_to_openai_messages():
    chat = anthropic.to_openai(
        {
            "model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
            "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
            "tools": [{"name": "get_weather", "description": "d",
                       "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "get_weather",
                            "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Paris?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": "AAAA"}}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                     "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                     "content": [{"type": "text", "text": "boom"}]}]},
            ],
        }
    )  # fmt: skip
    messages = chat["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1]["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}
    }  # fmt: skip
    call = messages[2]["tool_calls"][0]
    assert call["id"] == "toolu_1" and orjson.loads(call["function"]["arguments"]) == {
        "city": "Paris"
    }
    assert messages[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"}
    assert messages[4] == {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: boom"}
    assert chat["tools"][0]["function"]["parameters"] == {"type": "object"}
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert (chat["stop"], chat["user"], chat["max_tokens"]) == (["END"], "u1", 100)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        {"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]},
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "x"}]}]},
        {"model": "m", "max_tokens": 5, "tool_choice": {"type": "maybe"},
         "messages": [{"role": "user", "content": "x"}]},
    ],
)  # fmt: skip
def test_malformed_requests_are_refused(body):
    with pytest.raises(ApiError) as refused:
        anthropic.to_openai(body)
    assert refused.value.status == 400


def test_a_completion_with_tool_calls_becomes_tool_use_blocks():
    body = {
        "id": "chatcmpl-1",
        "choices": [{"finish_reason": "tool_calls", "message": {
            "content": "Checking.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {
                "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}}],
    }  # fmt: skip
    message = anthropic.from_openai(
        body, model="m", request_id="req_abc", usage=TokenUsage(10, 5, 4), extra={}
    )
    assert message["id"] == "msg_abc"
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    assert message["usage"]["input_tokens"] == 6
    assert message["usage"]["cache_read_input_tokens"] == 4


def _events(raw: bytes) -> list[dict]:
    return [
        orjson.loads(line[len(b"data: ") :])
        for line in raw.split(b"\n")
        if line.startswith(b"data: ")
    ]


def test_a_stream_with_text_then_a_tool_call_becomes_anthropic_events():
    writer = anthropic.StreamWriter(model="m", request_id="req_1", input_tokens_estimate=7)
    out = writer.chunk({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    out += writer.chunk({"choices": [{"delta": {"content": "Hi"}}]})
    out += writer.chunk({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_9",
        "function": {"name": "f", "arguments": "{\"a\""}}]}}]})  # fmt: skip
    out += writer.chunk({"choices": [{"delta": {"tool_calls": [{"index": 0,
        "function": {"arguments": ": 1}"}}]}, "finish_reason": "tool_calls"}]})  # fmt: skip
    out += writer.end(TokenUsage(7, 3), {})
    events = _events(out)
    types = [e["type"] for e in events]
    assert types == [
        "message_start", "ping", "content_block_start", "content_block_delta",
        "content_block_stop", "content_block_start", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert events[5]["content_block"] == {"type": "tool_use", "id": "call_9", "name": "f",
                                          "input": {}}  # fmt: skip
    partial = "".join(
        e["delta"]["partial_json"] for e in events if e.get("delta", {}).get("partial_json")
    )
    assert orjson.loads(partial) == {"a": 1}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens"] == 3
