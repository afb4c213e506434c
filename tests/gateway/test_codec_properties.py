"""Property tests of the Anthropic codec and adapter (hypothesis): an Anthropic Messages
request taken in by the codec (→ our OpenAI shape) and sent out by the Anthropic adapter
(→ Messages again) keeps every field both claim to keep; an Anthropic answer taken in by the
adapter and written back by the codec keeps its text, tool calls, stop reason and usage."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.pricing import TokenUsage
from gateway.codecs import anthropic as codec
from gateway.providers.anthropic import AnthropicAdapter, to_anthropic, usage_from_anthropic
from gateway.schemas import parse_chat

TEXT = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
SCHEMA = st.fixed_dictionaries(
    {"type": st.just("object"),
     "properties": st.dictionaries(NAME, st.just({"type": "string"}), max_size=3)}
)  # fmt: skip
TOOL = st.fixed_dictionaries({"name": NAME, "description": TEXT, "input_schema": SCHEMA})


@st.composite
def conversations(draw) -> list[dict]:
    """Alternating user/assistant text turns, starting and ending with the user."""
    turns = draw(st.integers(min_value=0, max_value=3))
    messages = [{"role": "user", "content": draw(TEXT)}]
    for _ in range(turns):
        messages.append({"role": "assistant", "content": [{"type": "text", "text": draw(TEXT)}]})
        messages.append({"role": "user", "content": [{"type": "text", "text": draw(TEXT)}]})
    return messages


@st.composite
def requests(draw) -> dict:
    body = {"model": "m", "max_tokens": draw(st.integers(1, 4096)),
            "messages": draw(conversations())}  # fmt: skip
    if draw(st.booleans()):
        body["system"] = draw(TEXT)
    if draw(st.booleans()):
        body["stop_sequences"] = draw(st.lists(TEXT, min_size=1, max_size=3))
    if draw(st.booleans()):
        body["temperature"] = draw(st.floats(0, 1, allow_nan=False))
    if draw(st.booleans()):
        body["top_p"] = draw(st.floats(0, 1, allow_nan=False))
    tools = draw(st.lists(TOOL, max_size=3, unique_by=lambda t: t["name"]))
    if tools:
        body["tools"] = tools
        named = {"type": "tool", "name": tools[0]["name"]}
        body["tool_choice"] = draw(st.sampled_from([{"type": "auto"}, {"type": "any"}, named]))
    return body


def _texts(content) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [block["text"] for block in content if block.get("type") == "text"]


@settings(max_examples=150, deadline=None)
@given(body=requests())
def test_a_messages_request_survives_the_trip_through_our_shape(body):
    back = to_anthropic(parse_chat(codec.to_openai(body)), "upstream-model")
    assert back["model"] == "upstream-model" and back["max_tokens"] == body["max_tokens"]
    assert back.get("system") == body.get("system")
    assert [m["role"] for m in back["messages"]] == [m["role"] for m in body["messages"]]
    for original, sent in zip(body["messages"], back["messages"], strict=True):
        assert _texts(sent["content"]) == _texts(original["content"])
    assert back.get("stop_sequences") == body.get("stop_sequences")
    for field in ("temperature", "top_p", "tool_choice"):
        assert back.get(field) == body.get(field), field
    assert back.get("tools", []) == body.get("tools", [])


ANSWER_TEXT = st.text(max_size=60)
STOP = st.sampled_from(["end_turn", "max_tokens", "tool_use", "stop_sequence"])


@settings(max_examples=150, deadline=None)
@given(
    text=ANSWER_TEXT,
    calls=st.lists(
        st.tuples(NAME, st.dictionaries(NAME, st.text(max_size=10), max_size=3)), max_size=2
    ),  # fmt: skip
    stop=STOP,
    usage=st.tuples(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**5)),
)
def test_an_anthropic_answer_survives_the_trip_through_our_shape(text, calls, stop, usage):
    fresh, read, output = usage
    content = ([{"type": "text", "text": text}] if text else []) + [
        {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": arguments}
        for n, (name, arguments) in enumerate(calls)
    ]
    upstream = {"id": "msg_1", "type": "message", "role": "assistant", "content": content,
                "stop_reason": stop, "usage": {"input_tokens": fresh,
                                               "cache_read_input_tokens": read,
                                               "output_tokens": output}}  # fmt: skip
    chat = parse_chat({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    ours = AnthropicAdapter().chat_result(upstream, chat)
    counted = usage_from_anthropic(upstream["usage"])
    assert counted == TokenUsage(fresh + read, output, read)
    back = codec.from_openai(ours.body, model="m", request_id="req_1", usage=counted, extra={})
    assert back["content"] == content
    expected_stop = "end_turn" if stop == "stop_sequence" else stop  # no OpenAI equivalent
    assert back["stop_reason"] == expected_stop
    assert back["usage"]["output_tokens"] == output
