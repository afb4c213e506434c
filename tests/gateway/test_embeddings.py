"""/v1/embeddings end to end: the openai SDK → reAPI → the simulator, ledger checked."""

from __future__ import annotations

import array
import base64
from datetime import UTC, datetime

import openai
import pytest
import requests

from catalog import selectors
from catalog.models import Model, Price, Route
from gateway.models import UsageRecord
from reapi.money import usd_to_micros


@pytest.fixture
def embedder(gateway):
    model = Model.objects.create(slug="sim-embed", display_name="Sim Embed", kind="embedding")
    Route.objects.create(model=model, provider=gateway.primary, upstream_model="emb-a")
    Route.objects.create(model=model, provider=gateway.backup, upstream_model="emb-b", priority=1)
    price = Price.objects.create(
        model=model, input_micros_per_mtok=usd_to_micros("0.13"),
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    selectors.invalidate()
    return price


def test_embeddings_return_one_vector_per_input_and_charge_the_input_tokens(gateway, embedder):
    before = gateway.balance()
    raw = gateway.client().embeddings.with_raw_response.create(
        model="sim-embed", input=["first text", "a second, longer text"]
    )
    result = raw.parse()
    assert result.model == "sim-embed"
    assert [item.index for item in result.data] == [0, 1]
    assert len(result.data[0].embedding) > 8
    expected = result.usage.prompt_tokens * embedder.input_micros_per_mtok // 1_000_000
    assert expected > 0
    assert gateway.balance() == before - expected
    assert raw.headers["x-reapi-provider"] == "sim-a"
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.charged_micros, record.output_tokens) == (
        "embeddings", expected, 0,
    )  # fmt: skip
    gateway.assert_books_closed()


def test_base64_embeddings_decode_to_the_same_vector(gateway, embedder):
    client = gateway.client()
    floats = client.embeddings.create(model="sim-embed", input="same text")
    packed = client.embeddings.create(
        model="sim-embed", input="same text", encoding_format="base64"
    )
    # Asked for explicitly, the SDK hands back the base64 string: little-endian float32s.
    decoded = array.array("f", base64.b64decode(packed.data[0].embedding)).tolist()
    assert decoded == pytest.approx(floats.data[0].embedding, abs=1e-6)


@pytest.mark.parametrize(
    "body,param",
    [
        ({"model": "sim-embed"}, "input"),
        ({"model": "sim-embed", "input": []}, "input"),
        ({"model": "sim-embed", "input": ["ok", ""]}, "input[1]"),
        ({"model": "sim-embed", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "sim-embed", "input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x"}, "model"),
        ({"model": "sim-embed", "input": "x", "stream": True}, "stream"),
    ],
)
def test_bad_embedding_requests_are_refused_and_change_nothing(gateway, embedder, body, param):
    before = gateway.balance()
    response = requests.post(
        gateway.url + "/v1/embeddings", json=body,
        headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5,
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert gateway.balance() == before
    assert gateway.sim.request_count("a") == 0


def test_a_chat_model_is_not_an_embedding_model(gateway, embedder):
    with pytest.raises(openai.NotFoundError):
        gateway.client().embeddings.create(model="sim-chat", input="hello")


def test_embeddings_fail_over_and_refund_when_every_route_fails(gateway, embedder):
    gateway.sim.set_fault("a", status=503)
    raw = gateway.client().embeddings.with_raw_response.create(model="sim-embed", input="x")
    assert raw.headers["x-reapi-provider"] == "sim-b"
    gateway.sim.set_fault("b", status=500)
    before = gateway.balance()
    with pytest.raises(openai.APIStatusError) as failed:
        gateway.client().embeddings.create(model="sim-embed", input="x")
    assert failed.value.status_code == 502
    assert gateway.balance() == before
    gateway.assert_books_closed()
