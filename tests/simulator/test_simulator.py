"""The bundled upstream simulator, driven over real HTTP (requests and the official SDK).

One simulator process serves the whole module; every test starts from a reset (no faults,
zero counters). No Django needed.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from simulator.faults import FaultSpecError, parse_spec
from simulator.testing import SimulatorProcess, closed_port

USER = [{"role": "user", "content": "Tell me about the sea."}]


def chat(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    timeout: float | tuple[float, float] = 5,
    headers: dict[str, str] | None = None,
    lazy: bool = False,
    **body: Any,
) -> requests.Response:
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", USER)
    return http.post(
        sim.url(scope) + "/chat/completions",
        json=body,
        timeout=timeout,
        headers=headers,
        stream=lazy,  # read the body as it arrives (for cut streams)
    )


def sse_data(response: requests.Response) -> list[str]:
    """The `data:` payloads of an SSE response, checking the framing on the way."""
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-1] == ""  # every event ends with a blank line
    payloads = []
    for event in events[:-1]:
        assert event.startswith("data: ") and "\n" not in event
        payloads.append(event[len("data: ") :])
    return payloads


def chunks_of(payloads: list[str]) -> list[dict[str, Any]]:
    assert payloads[-1] == "[DONE]"
    return [json.loads(p) for p in payloads[:-1]]


def content_of(chunks: list[dict[str, Any]], index: int = 0) -> list[str]:
    return [
        c["choices"][0]["delta"]["content"]
        for c in chunks
        if c["choices"]
        and c["choices"][0]["index"] == index
        and c["choices"][0]["delta"].get("content")
    ]


def sdk(base_url: str, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("max_retries", 0)  # a retried fault would hide what we test
    kwargs.setdefault("timeout", 5)
    return OpenAI(base_url=base_url, api_key="x", **kwargs)


# --- protocol -------------------------------------------------------------------------------


def test_same_request_gives_same_answer_and_echoes_the_model(http, sim):
    first = chat(http, sim).json()
    second = chat(http, sim).json()
    other = chat(http, sim, messages=[{"role": "user", "content": "Something else"}]).json()

    assert first["object"] == "chat.completion"
    assert first["model"] == "gpt-4o"
    text = first["choices"][0]["message"]["content"]
    assert text == second["choices"][0]["message"]["content"]
    assert text != other["choices"][0]["message"]["content"]
    assert first["id"] != second["id"]
    assert first["choices"][0]["message"]["role"] == "assistant"
    assert first["choices"][0]["finish_reason"] == "stop"
    assert chat(http, sim, model="any-model-id").json()["model"] == "any-model-id"


def test_usage_counts_prompt_chars_and_one_token_per_word(http, sim):
    body = chat(http, sim).json()
    usage = body["usage"]
    text = body["choices"][0]["message"]["content"]

    content = USER[0]["content"]
    assert usage["prompt_tokens"] == math.ceil(len(content) / 4) + 4 + 3
    assert usage["completion_tokens"] == 32 == len(text.split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_stream_carries_the_same_text_and_usage_matches_the_chunks(http, sim):
    plain = chat(http, sim).json()
    response = chat(http, sim, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    chunks = chunks_of(sse_data(response))

    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["model"] == "gpt-4o" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    pieces = content_of(chunks)
    assert "".join(pieces) == plain["choices"][0]["message"]["content"]

    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == plain["usage"]
    assert len(pieces) == chunks[-1]["usage"]["completion_tokens"]
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_at_all(http, sim):
    chunks = chunks_of(sse_data(chat(http, sim, stream=True)))

    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert len(content_of(chunks)) == 32


def test_n_returns_n_choices_and_sums_completion_tokens(http, sim):
    body = chat(http, sim, n=3).json()
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert body["usage"]["completion_tokens"] == 3 * 32
    assert len({c["message"]["content"] for c in body["choices"]}) == 3

    response = chat(http, sim, n=2, stream=True, stream_options={"include_usage": True})
    chunks = chunks_of(sse_data(response))
    pieces = content_of(chunks, 0) + content_of(chunks, 1)
    assert len(pieces) == chunks[-1]["usage"]["completion_tokens"] == 2 * 32


def test_max_tokens_truncates_with_finish_reason_length(http, sim):
    body = chat(http, sim, max_tokens=5).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    assert len(body["choices"][0]["message"]["content"].split()) == 5

    body = chat(http, sim, max_completion_tokens=3).json()
    assert body["usage"]["completion_tokens"] == 3

    body = chat(http, sim, max_completion_tokens=100).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 32

    chunks = chunks_of(sse_data(chat(http, sim, max_tokens=4, stream=True)))
    assert len(content_of(chunks)) == 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": USER}, "model", "missing_required_parameter"),
        ({"model": "gpt-4o"}, "messages", "missing_required_parameter"),
        ({"model": "gpt-4o", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "gpt-4o", "messages": []}, "messages", "empty_array"),
        ({"model": "gpt-4o", "messages": [{"role": "wizard", "content": "x"}]}, None, None),
        ({"model": "gpt-4o", "messages": [{"role": "user"}]}, None, None),
        ({"model": "gpt-4o", "messages": USER, "stream_options": {}}, "stream_options", None),
        ({"model": "gpt-4o", "messages": USER, "max_tokens": 0}, "max_tokens", None),
        ({"model": "gpt-4o", "messages": USER, "n": 0}, "n", None),
        ([1, 2], None, None),
    ],
)
def test_invalid_requests_get_a_400_in_openai_shape(http, sim, body, param, code):
    response = http.post(sim.url() + "/chat/completions", json=body, timeout=5)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    if param:
        assert error["param"] == param
    if code:
        assert error["code"] == code


def test_a_body_that_is_not_json_is_a_400(http, sim):
    response = http.post(
        sim.url() + "/chat/completions",
        data=b"{nope",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_models_are_listed_and_unknown_urls_are_openai_404s(http, sim):
    models = http.get(sim.url() + "/models", timeout=5).json()
    assert models["object"] == "list"
    assert "gpt-4o" in [m["id"] for m in models["data"]]

    response = http.post(sim.url() + "/nothing/here", json={}, timeout=5)
    assert response.status_code == 404
    assert "error" in response.json()


def test_the_openai_sdk_works_streamed_and_not(sim):
    client = sdk(sim.url())
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER, max_tokens=7)
    assert completion.model == "gpt-4o-mini"
    assert completion.usage.completion_tokens == 7
    assert completion.choices[0].finish_reason == "length"

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        max_tokens=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == 7
    assert client.models.list().data[0].id == "gpt-4o"


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "invalid_request_error"),
        (429, "requests"),
        (500, "server_error"),
        (503, "server_error"),
        (529, "server_error"),
    ],
)
def test_status_fault_answers_a_provider_error(http, sim, status, error_type):
    response = chat(http, sim, f"status={status}")

    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == error_type
    assert error["message"]
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert error["code"] == "rate_limit_exceeded"
    else:
        assert "retry-after" not in response.headers


def test_status_fault_code_and_retry_after_can_be_chosen(http, sim):
    response = chat(http, sim, "status=429,code=insufficient_quota,retry_after=7")
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == "insufficient_quota"
    assert response.json()["error"]["type"] == "insufficient_quota"


def test_status_fault_applies_to_streams_too(http, sim):
    response = chat(http, sim, "status=503", stream=True)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")


def test_the_sdk_raises_its_typed_errors_for_status_faults(sim):
    with pytest.raises(openai.RateLimitError):
        sdk(sim.url("status=429")).chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.InternalServerError):
        sdk(sim.url("status=503")).chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.AuthenticationError):
        sdk(sim.url("status=401")).chat.completions.create(model="m", messages=USER)


def test_latency_delays_the_response(http, sim):
    started = time.monotonic()
    response = chat(http, sim, "latency_ms=300")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reset_drops_the_connection_without_a_response(http, sim):
    with pytest.raises(requests.ConnectionError):
        chat(http, sim, "reset")
    with pytest.raises(openai.APIConnectionError):
        sdk(sim.url("reset")).chat.completions.create(model="m", messages=USER)
    assert chat(http, sim).status_code == 200  # the server itself is fine


def test_hang_sends_nothing_so_the_client_times_out(http, sim):
    with pytest.raises(requests.ReadTimeout):
        chat(http, sim, "hang_s=2", timeout=(2, 0.5))
    with pytest.raises(openai.APITimeoutError):
        sdk(sim.url("hang_s=2"), timeout=0.5).chat.completions.create(model="m", messages=USER)


def test_a_short_hang_then_answers_normally(http, sim):
    started = time.monotonic()
    response = chat(http, sim, "hang_s=0.2")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
    assert response.json()["usage"]["completion_tokens"] == 32


def test_cut_after_ends_the_stream_early_after_exactly_n_content_chunks(http, sim):
    response = chat(http, sim, "cut_after=3", stream=True, lazy=True)
    assert response.status_code == 200
    payloads = []
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for line in response.iter_lines():
            if line:
                payloads.append(line.decode().removeprefix("data: "))
    assert "[DONE]" not in payloads
    chunks = [json.loads(p) for p in payloads]
    assert len(content_of(chunks)) == 3
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_cut_after_breaks_the_sdk_stream(sim):
    stream = sdk(sim.url("cut_after=2")).chat.completions.create(
        model="m", messages=USER, stream=True
    )
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert len([s for s in seen if s]) == 2


def test_cut_after_on_a_plain_request_sends_half_a_body(http, sim):
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        chat(http, sim, "cut_after=0")


def test_malformed_returns_200_with_invalid_json(http, sim):
    response = chat(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_malformed_stream_has_one_invalid_data_line(http, sim):
    payloads = sse_data(chat(http, sim, "malformed", stream=True))
    invalid = []
    for payload in payloads[:-1]:
        try:
            json.loads(payload)
        except ValueError:
            invalid.append(payload)
    assert len(invalid) == 1
    assert payloads[-1] == "[DONE]"


def test_tokens_per_second_paces_the_stream(http, sim):
    started = time.monotonic()
    response = chat(http, sim, "tokens=10,tokens_per_second=40", stream=True)
    assert len(content_of(chunks_of(sse_data(response)))) == 10
    assert time.monotonic() - started >= 0.2  # 10 tokens at 40/s

    started = time.monotonic()
    assert chat(http, sim, "tokens=10,tokens_per_second=40").status_code == 200
    assert time.monotonic() - started >= 0.2  # a plain answer takes as long


def test_closed_port_refuses_connections(http):
    with pytest.raises(requests.ConnectionError):
        http.get(f"http://127.0.0.1:{closed_port()}/v1/models", timeout=2)


# --- choosing faults ------------------------------------------------------------------------


def test_fault_spec_grammar():
    assert parse_spec("latency_ms=200,cut_after=3") == {"latency_ms": 200, "cut_after": 3}
    assert parse_spec("status=503 reset") == {"status": 503, "reset": True}
    assert parse_spec("malformed=false,hang_s=0.5") == {"malformed": False, "hang_s": 0.5}
    assert parse_spec("route-a,tokens=5", allow_labels=True) == {"tokens": 5}
    with pytest.raises(FaultSpecError):
        parse_spec("route-a")  # labels only in scope names
    with pytest.raises(FaultSpecError):
        parse_spec("status=200")  # not an error status
    with pytest.raises(FaultSpecError):
        parse_spec("latency=5")


def test_scope_name_can_mix_a_label_with_faults(http, sim):
    response = chat(http, sim, "route-a,tokens=3")
    assert response.json()["usage"]["completion_tokens"] == 3
    assert chat(http, sim, "route-b").json()["usage"]["completion_tokens"] == 32

    stats = sim.stats()["scopes"]
    assert stats["route-a,tokens=3"]["requests"] == 1
    assert stats["route-b"]["requests"] == 1


def test_a_bad_fault_spec_in_the_scope_is_a_loud_400(http, sim):
    response = chat(http, sim, "stauts=503")
    assert response.status_code == 400
    assert "stauts" in response.json()["error"]["message"]
    assert chat(http, sim, "status=abc").status_code == 400


def test_control_api_fault_applies_for_times_requests_then_clears(http, sim):
    sim.set_fault("route-a", status=500, times=2)

    statuses = [chat(http, sim, "route-a").status_code for _ in range(3)]

    assert statuses == [500, 500, 200]
    assert sim.request_count("route-a") == 3
    assert sim.request_count("route-b") == 0  # never called


def test_control_api_fault_stays_until_deleted(http, sim):
    sim.set_fault("route-a", status=503)
    assert chat(http, sim, "route-a").status_code == 503
    assert chat(http, sim, "route-a").status_code == 503
    assert chat(http, sim).status_code == 200  # other scopes are untouched

    sim.clear_fault("route-a")
    assert chat(http, sim, "route-a").status_code == 200


def test_control_api_can_fault_the_default_scope(http, sim):
    sim.set_fault("default", tokens=4)
    assert chat(http, sim).json()["usage"]["completion_tokens"] == 4


def test_control_api_rejects_bad_specs(http, sim):
    response = http.put(sim.base_url + "/_sim/scopes/x", json={"bogus": 1}, timeout=5)
    assert response.status_code == 400
    response = http.put(sim.base_url + "/_sim/scopes/x", json={"status": 503, "times": 0})
    assert response.status_code == 400
    assert http.get(sim.base_url + "/_sim/scopes", timeout=5).json() == {"scopes": {}}


def test_stats_count_per_scope_and_reset_clears_them(http, sim):
    chat(http, sim)
    chat(http, sim, "a")
    chat(http, sim, "a")

    stats = sim.stats()
    assert stats["total"] == 3
    assert stats["scopes"]["default"]["requests"] == 1
    assert stats["scopes"]["a"]["requests"] == 2
    assert stats["scopes"]["a"]["endpoints"] == {"POST /v1/chat/completions": 2}
    assert stats["scopes"]["a"]["in_flight"] == 0

    sim.set_fault("a", status=500)
    sim.reset()
    assert sim.stats() == {"total": 0, "scopes": {}}
    assert chat(http, sim, "a").status_code == 200


def test_directive_in_the_last_user_message_picks_a_fault_for_one_request(http, sim):
    messages = [{"role": "user", "content": "Hello [sim status=503]"}]
    assert chat(http, sim, messages=messages).status_code == 503

    parts = [
        {"type": "text", "text": "Hi"},
        {"type": "text", "text": "[sim tokens=6, latency_ms=1]"},
    ]
    body = chat(http, sim, messages=[{"role": "user", "content": parts}]).json()
    assert body["usage"]["completion_tokens"] == 6

    earlier = [
        {"role": "user", "content": "[sim status=500]"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "plain"},
    ]
    assert chat(http, sim, messages=earlier).status_code == 200  # only the last user turn


def test_directive_wins_over_the_control_api(http, sim):
    sim.set_fault("default", tokens=4, latency_ms=0)
    messages = [{"role": "user", "content": "[sim tokens=9]"}]
    assert chat(http, sim, messages=messages).json()["usage"]["completion_tokens"] == 9


def test_a_bad_directive_is_a_400(http, sim):
    messages = [{"role": "user", "content": "[sim explode=1]"}]
    response = chat(http, sim, messages=messages)
    assert response.status_code == 400
    assert "explode" in response.json()["error"]["message"]


def test_fault_header_picks_a_fault_for_one_request(http, sim):
    response = chat(http, sim, headers={"x-sim-fault": "status=429,retry_after=3"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert chat(http, sim).status_code == 200
