"""/v1/chat/completions and /v1/models end to end: the openai SDK → uvicorn → reAPI →
the simulator, with the ledger checked after every outcome."""

from __future__ import annotations

import openai
import pytest
import requests

from gateway.models import UsageRecord
from tests.gateway.conftest import CREDIT

HELLO = [{"role": "user", "content": "Say something nice."}]


def test_non_stream_returns_the_simulators_text_and_charges_exactly(gateway):
    client = gateway.client()
    before = gateway.balance()
    raw = client.chat.completions.with_raw_response.create(model="sim-chat", messages=HELLO)
    completion = raw.parse()
    assert completion.model == "sim-chat"
    assert completion.choices[0].message.content.strip()
    expected = gateway.cost(completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert expected > 0
    assert gateway.balance() == before - expected
    assert raw.headers["x-reapi-provider"] == "sim-a"
    assert raw.headers["x-request-id"].startswith("req_")
    charged = raw.headers["x-reapi-credits-charged"]
    assert round(float(charged) * CREDIT) == expected
    record = UsageRecord.objects.get(request_id=raw.headers["x-request-id"])
    assert (record.status, record.charged_micros, record.failovers) == ("ok", expected, 0)
    assert record.input_tokens == completion.usage.prompt_tokens
    gateway.assert_books_closed()


def test_the_same_request_gets_the_same_deterministic_text(gateway):
    client = gateway.client()
    first = client.chat.completions.create(model="sim-chat", messages=HELLO)
    second = client.chat.completions.create(model="sim-chat", messages=HELLO)
    assert first.choices[0].message.content == second.choices[0].message.content


def test_stream_returns_the_text_and_charges_exactly(gateway):
    client = gateway.client()
    before = gateway.balance()
    stream = client.chat.completions.create(
        model="sim-chat", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    text, usage = "", None
    for chunk in stream:
        assert chunk.model == "sim-chat"
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text.strip()
    assert usage is not None
    expected = gateway.cost(usage.prompt_tokens, usage.completion_tokens)
    assert gateway.balance() == before - expected
    assert round(float(usage.model_extra["credits_charged"]) * CREDIT) == expected
    gateway.assert_books_closed()


def test_a_stream_without_include_usage_gets_no_usage_chunk_but_is_still_charged(gateway):
    client = gateway.client()
    before = gateway.balance()
    chunks = list(client.chat.completions.create(model="sim-chat", messages=HELLO, stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)
    record = UsageRecord.objects.get()
    assert record.estimated is False and record.output_tokens > 0
    assert gateway.balance() == before - gateway.cost(record.input_tokens, record.output_tokens)
    gateway.assert_books_closed()


def test_models_lists_only_enabled_models_the_key_may_use(gateway):
    from accounts import keys
    from catalog.models import Model

    Model.objects.create(slug="hidden", display_name="Hidden", kind="chat", enabled=False)
    Model.objects.create(slug="other", display_name="Other", kind="chat")
    ids = [m.id for m in gateway.client().models.list()]
    assert "sim-chat" in ids and "other" in ids and "hidden" not in ids
    _, narrow = keys.create(gateway.user, name="narrow", allowed_models=["sim-chat"])
    assert [m.id for m in gateway.client(api_key=narrow).models.list()] == ["sim-chat"]


def test_both_auth_headers_work_and_bad_keys_get_401_in_openai_shape(gateway):
    url = gateway.url + "/v1/models"
    assert requests.get(url, headers={"x-api-key": gateway.raw_key}, timeout=5).ok
    assert requests.get(url, headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5).ok
    for headers in ({}, {"authorization": "Bearer sk-reapi-nope"}, {"x-api-key": "garbage"}):
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 401
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
        assert response.headers["x-request-id"].startswith("req_")
    with pytest.raises(openai.AuthenticationError):
        gateway.client(api_key="sk-reapi-wrong").chat.completions.create(
            model="sim-chat", messages=HELLO
        )


def test_a_revoked_key_and_a_suspended_account_are_refused(gateway):
    from django.utils import timezone

    from accounts import keys
    from accounts.models import ApiKey

    key, raw = keys.create(gateway.user, name="doomed")
    assert gateway.client(api_key=raw).models.list()
    keys.revoke(key)
    with pytest.raises(openai.AuthenticationError) as revoked:
        gateway.client(api_key=raw).models.list()
    assert revoked.value.code == "api_key_revoked"
    gateway.user.suspended_at = timezone.now()
    gateway.user.save()
    keys.forget_cached_for(gateway.user)
    with pytest.raises(openai.PermissionDeniedError) as suspended:
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert suspended.value.code == "account_suspended"
    assert gateway.sim.request_count("a") == 0
    assert ApiKey.objects.filter(owner=gateway.user).count() == 2


@pytest.mark.parametrize(
    "body,status,code,param",
    [
        ({"messages": HELLO}, 400, "missing", "model"),
        ({"model": "sim-chat"}, 400, "missing", "messages"),
        ({"model": "sim-chat", "messages": []}, 400, "invalid_value", "messages"),
        ({"model": "sim-chat", "messages": [{"role": "wizard", "content": "x"}]}, 400,
         "invalid_value", "messages[0].role"),
        ({"model": "sim-chat", "messages": HELLO, "n": 0}, 400, "invalid_value", "n"),
        ({"model": "sim-chat", "messages": HELLO, "max_tokens": -5}, 400, "invalid_value",
         "max_tokens"),
        ({"model": "sim-chat", "messages": HELLO, "max_tokens": 5000}, 400, "invalid_value",
         "max_tokens"),
        ({"model": "sim-chat", "messages": HELLO, "stream_options": {"include_usage": True}},
         400, "invalid_value", "stream_options"),
        ({"model": "sim-chat", "messages": HELLO, "temperature": "hot"}, 400, "invalid_value",
         "temperature"),
        ({"model": "no-such-model", "messages": HELLO}, 404, "model_not_found", "model"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_clear_error_and_change_nothing(gateway, body, status, code, param):
    before = gateway.balance()
    response = requests.post(
        gateway.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {gateway.raw_key}"},
        timeout=5,
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert error["message"]
    assert gateway.balance() == before
    assert gateway.sim.request_count("a") == 0
    assert not UsageRecord.objects.exists()


def test_malformed_json_and_oversized_bodies_are_refused(gateway, settings):
    url = gateway.url + "/v1/chat/completions"
    headers = {"authorization": f"Bearer {gateway.raw_key}", "content-type": "application/json"}
    response = requests.post(url, data=b'{"model": "sim-chat", "messages": [', headers=headers,
                             timeout=5)  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    big = (
        b'{"model":"sim-chat","messages":[{"role":"user","content":"'
        + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
        + b'"}]}'
    )
    response = requests.post(url, data=big, headers=headers, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert gateway.sim.request_count("a") == 0


def test_a_model_outside_the_keys_allowlist_is_forbidden(gateway):
    from accounts import keys

    _, raw = keys.create(gateway.user, name="narrow", allowed_models=["something-else"])
    with pytest.raises(openai.PermissionDeniedError) as denied:
        gateway.client(api_key=raw).chat.completions.create(model="sim-chat", messages=HELLO)
    assert denied.value.code == "model_not_allowed"


def test_insufficient_credits_get_402_and_the_upstream_is_never_called(gateway):
    from billing import ledger

    account = gateway.account()
    ledger.debit(account, amount_micros=account.balance_micros - 1000, idempotency_key="drain",
                 kind="adjustment", memo="test")  # fmt: skip
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert refused.value.status_code == 402
    assert refused.value.code == "insufficient_credits"
    assert gateway.balance() == 1000
    assert gateway.sim.request_count("a") == 0
    gateway.assert_books_closed()


def test_a_keys_requests_per_minute_limit_answers_429_with_retry_after(gateway):
    from accounts import keys

    _, raw = keys.create(gateway.user, name="slow", rpm_limit=2)
    client = gateway.client(api_key=raw)
    client.chat.completions.create(model="sim-chat", messages=HELLO)
    client.chat.completions.create(model="sim-chat", messages=HELLO)
    before = gateway.balance()
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="sim-chat", messages=HELLO)
    assert limited.value.code == "rate_limit_exceeded"
    headers = limited.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 120  # a sliding minute: up to 90 s
    assert headers["x-ratelimit-limit-requests"] == "2"
    assert gateway.sim.request_count("a") == 2
    assert gateway.balance() == before
    # Other keys of the same account are not affected.
    gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)


def test_a_model_without_an_enabled_route_answers_503_and_holds_nothing(gateway):
    from catalog import selectors
    from catalog.models import Route

    Route.objects.filter(model=gateway.model).update(enabled=False)
    selectors.invalidate()
    before = gateway.balance()
    with pytest.raises(openai.InternalServerError) as unavailable:
        gateway.client().chat.completions.create(model="sim-chat", messages=HELLO)
    assert unavailable.value.status_code == 503
    assert unavailable.value.code == "no_route_available"
    assert gateway.balance() == before
    assert not UsageRecord.objects.exists()


def test_unknown_urls_and_wrong_methods_answer_in_openai_shape(gateway):
    headers = {"authorization": f"Bearer {gateway.raw_key}"}
    response = requests.post(gateway.url + "/v1/nothing-here", headers=headers, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_url"
    response = requests.get(gateway.url + "/v1/chat/completions", headers=headers, timeout=5)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]  # fmt: skip


def test_tool_calls_pass_through_stream_and_non_stream_and_are_charged(gateway):
    import orjson

    client = gateway.client()
    before = gateway.balance()
    completion = client.chat.completions.create(
        model="sim-chat", messages=HELLO, tools=TOOLS, tool_choice="required"
    )
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and "city" in orjson.loads(call.function.arguments)
    usage = completion.usage
    assert gateway.balance() == before - gateway.cost(usage.prompt_tokens, usage.completion_tokens)
    arguments = ""
    for chunk in client.chat.completions.create(
        model="sim-chat", messages=HELLO, tools=TOOLS, tool_choice="required", stream=True
    ):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            arguments += delta.function.arguments or ""
    assert arguments == call.function.arguments
    gateway.assert_books_closed()


def test_json_mode_answers_parse_as_json(gateway):
    import orjson

    completion = gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, response_format={"type": "json_object"}
    )
    assert isinstance(orjson.loads(completion.choices[0].message.content), dict)


def test_n_choices_are_all_returned_and_all_charged(gateway):
    before = gateway.balance()
    completion = gateway.client().chat.completions.create(
        model="sim-chat", messages=HELLO, n=3, max_tokens=5
    )
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert completion.usage.completion_tokens == 15
    assert gateway.balance() == before - gateway.cost(completion.usage.prompt_tokens, 15)
