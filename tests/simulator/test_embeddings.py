"""The simulator's OpenAI embeddings endpoint, over real HTTP (requests and the official SDK).

One simulator process serves the whole module; every test starts from a reset. No Django.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import time
from typing import Any

import openai
import pytest
import requests
from openai import OpenAI

from simulator.openai_embeddings import DEFAULT_DIMENSIONS, embedding_vector
from simulator.testing import SimulatorProcess

MODEL = "text-embedding-3-small"
TEXT = "The quick brown fox jumps over the lazy dog."


def embed(
    http: requests.Session,
    sim: SimulatorProcess,
    scope: str | None = None,
    *,
    timeout: float | tuple[float, float] = 5,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> requests.Response:
    body.setdefault("model", MODEL)
    body.setdefault("input", TEXT)
    return http.post(sim.url(scope) + "/embeddings", json=body, timeout=timeout, headers=headers)


def sdk(base_url: str, **kwargs: Any) -> OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5)
    return OpenAI(base_url=base_url, api_key="x", **kwargs)


def norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def decode_base64(data: str) -> list[float]:
    raw = base64.b64decode(data)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# --- protocol -------------------------------------------------------------------------------


def test_float_response_shape_usage_and_unit_length(http, sim):
    response = embed(http, sim)
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()

    assert set(body) == {"object", "data", "model", "usage"}
    assert body["object"] == "list"
    assert body["model"] == MODEL
    assert body["usage"] == {
        "prompt_tokens": math.ceil(len(TEXT) / 4),
        "total_tokens": math.ceil(len(TEXT) / 4),
    }
    [item] = body["data"]
    assert item["object"] == "embedding"
    assert item["index"] == 0
    vector = item["embedding"]
    assert len(vector) == DEFAULT_DIMENSIONS == 256
    assert all(isinstance(x, float) for x in vector)
    assert norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_vectors_are_deterministic_per_model_and_text(http, sim):
    first = embed(http, sim).json()["data"][0]["embedding"]
    again = embed(http, sim).json()["data"][0]["embedding"]
    other_text = embed(http, sim, input=TEXT + "!").json()["data"][0]["embedding"]
    other_model = embed(http, sim, model="text-embedding-3-large").json()["data"][0]["embedding"]

    assert first == again
    assert first != other_text
    assert first != other_model
    # Same function the server uses, and not tied to this process: the gateway's tests can
    # compute expected vectors without calling the simulator.
    assert first == embedding_vector(MODEL, TEXT, 256)


def test_an_array_of_strings_keeps_order_and_sums_usage(http, sim):
    texts = ["alpha", "a somewhat longer sentence", "alpha"]
    body = embed(http, sim, input=texts, dimensions=32).json()

    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    vectors = [d["embedding"] for d in body["data"]]
    assert vectors[0] == vectors[2] != vectors[1]
    assert (
        vectors[1] == embed(http, sim, input=texts[1], dimensions=32).json()["data"][0]["embedding"]
    )
    expected = sum(math.ceil(len(t) / 4) for t in texts)
    assert body["usage"] == {"prompt_tokens": expected, "total_tokens": expected}


def test_token_id_inputs_count_their_length(http, sim):
    single = embed(http, sim, input=[101, 2023, 2003]).json()
    assert len(single["data"]) == 1
    assert single["usage"]["prompt_tokens"] == 3
    assert single["data"][0]["embedding"] == embedding_vector(MODEL, [101, 2023, 2003], 256)

    many = embed(http, sim, input=[[1, 2], [3, 4, 5], [101, 2023, 2003]]).json()
    assert [d["index"] for d in many["data"]] == [0, 1, 2]
    assert many["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    assert many["data"][2]["embedding"] == single["data"][0]["embedding"]
    # Token ids are not text: [1, 2] is not the string "1,2".
    assert many["data"][0]["embedding"] != embedding_vector(MODEL, "1,2", 256)


def test_dimensions_shorten_like_text_embedding_3(http, sim):
    full = embed(http, sim).json()["data"][0]["embedding"]
    short = embed(http, sim, dimensions=64).json()["data"][0]["embedding"]

    assert len(short) == 64
    assert norm(short) == pytest.approx(1.0, abs=1e-6)
    prefix = full[:64]
    scale = norm(prefix)
    assert short == pytest.approx([x / scale for x in prefix], abs=1e-6)
    assert len(embed(http, sim, dimensions=3072).json()["data"][0]["embedding"]) == 3072


def test_base64_is_little_endian_float32_of_the_same_vector(http, sim):
    floats = embed(http, sim, input=["one", "two"]).json()["data"]
    encoded = embed(http, sim, input=["one", "two"], encoding_format="base64").json()

    assert encoded["usage"]["prompt_tokens"] == 2
    for plain, packed in zip(floats, encoded["data"], strict=True):
        assert isinstance(packed["embedding"], str)
        assert len(base64.b64decode(packed["embedding"])) == 4 * 256
        assert decode_base64(packed["embedding"]) == plain["embedding"]  # exactly, not approx


def test_the_openai_sdk_decodes_base64_to_the_float_vector(sim):
    client = sdk(sim.url())
    as_floats = client.embeddings.create(model=MODEL, input=TEXT, encoding_format="float")
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    decoded = client.embeddings.create(model=MODEL, input=TEXT)
    raw = client.embeddings.create(model=MODEL, input=TEXT, encoding_format="base64")

    assert as_floats.model == MODEL
    assert as_floats.usage.prompt_tokens == as_floats.usage.total_tokens == 11
    assert len(as_floats.data[0].embedding) == 256
    assert decoded.data[0].embedding == as_floats.data[0].embedding
    assert decode_base64(raw.data[0].embedding) == as_floats.data[0].embedding

    batch = client.embeddings.create(model=MODEL, input=[[1, 2, 3], [4]], dimensions=8)
    assert [len(d.embedding) for d in batch.data] == [8, 8]
    assert batch.usage.prompt_tokens == 4


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"input": TEXT}, "model", "missing_required_parameter"),
        ({"model": MODEL}, "input", "missing_required_parameter"),
        ({"model": MODEL, "input": ""}, "input", "invalid_value"),
        ({"model": MODEL, "input": []}, "input", "empty_array"),
        ({"model": MODEL, "input": {"text": "x"}}, "input", "invalid_type"),
        ({"model": MODEL, "input": ["a", ""]}, "input[1]", "invalid_value"),
        ({"model": MODEL, "input": ["a", 3]}, "input[1]", "invalid_type"),
        ({"model": MODEL, "input": [1, "a"]}, "input[1]", "invalid_type"),
        ({"model": MODEL, "input": [1, -2]}, "input[1]", "invalid_type"),
        ({"model": MODEL, "input": [[1], []]}, "input[1]", "empty_array"),
        ({"model": MODEL, "input": [[1], [True]]}, "input[1][0]", "invalid_type"),
        ({"model": MODEL, "input": [None]}, "input[0]", "invalid_type"),
        ({"model": MODEL, "input": ["a"] * 2049}, "input", "array_above_max_length"),
        ({"model": MODEL, "input": "x" * 40_000}, "input", "context_length_exceeded"),
        ({"model": MODEL, "input": [[1] * 8000] * 40}, "input", "max_tokens_per_request"),
        ({"model": MODEL, "input": "a", "encoding_format": "int8"}, "encoding_format", None),
        ({"model": MODEL, "input": "a", "dimensions": 0}, "dimensions", "invalid_value"),
        ({"model": MODEL, "input": "a", "dimensions": 5000}, "dimensions", "invalid_value"),
        ({"model": MODEL, "input": "a", "dimensions": "8"}, "dimensions", "invalid_type"),
        (
            {"model": "text-embedding-ada-002", "input": "a", "dimensions": 8},
            "dimensions",
            "invalid_value",
        ),
        ({"model": MODEL, "input": "a", "user": 5}, "user", "invalid_type"),
        ([TEXT], None, "invalid_type"),
    ],
)
def test_invalid_requests_get_a_400_in_openai_shape(http, sim, body, param, code):
    response = http.post(sim.url() + "/embeddings", json=body, timeout=5)

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert error["param"] == param
    if code:
        assert error["code"] == code


def test_ada_002_without_dimensions_is_fine(http, sim):
    body = embed(http, sim, model="text-embedding-ada-002").json()
    assert len(body["data"][0]["embedding"]) == 256


def test_a_body_that_is_not_json_is_a_400(http, sim):
    response = http.post(
        sim.url() + "/embeddings",
        data=b"{nope",
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_sdk_raises_bad_request_for_validation_errors(sim):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(sim.url()).embeddings.create(model=MODEL, input="", encoding_format="float")
    assert caught.value.body["param"] == "input"


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
def test_status_fault_answers_an_openai_error(http, sim, status, error_type):
    response = embed(http, sim, f"status={status}")

    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type
    if status == 429:
        assert response.headers["retry-after"] == "1"
    else:
        assert "retry-after" not in response.headers


def test_the_sdk_raises_its_typed_errors_for_status_faults(sim):
    with pytest.raises(openai.RateLimitError):
        sdk(sim.url("status=429")).embeddings.create(model=MODEL, input=TEXT)
    with pytest.raises(openai.InternalServerError):
        sdk(sim.url("status=503")).embeddings.create(model=MODEL, input=TEXT)


def test_latency_delays_the_answer(http, sim):
    started = time.monotonic()
    assert embed(http, sim, "latency_ms=200").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_reset_drops_the_connection(http, sim):
    with pytest.raises(requests.ConnectionError):
        embed(http, sim, "reset")
    with pytest.raises(openai.APIConnectionError):
        sdk(sim.url("reset")).embeddings.create(model=MODEL, input=TEXT)


def test_hang_makes_the_client_time_out(http, sim):
    with pytest.raises(requests.ReadTimeout):
        embed(http, sim, "hang_s=2", timeout=(2, 0.3))
    with pytest.raises(openai.APITimeoutError):
        sdk(sim.url("hang_s=2"), timeout=0.3).embeddings.create(model=MODEL, input=TEXT)


def test_malformed_is_a_200_that_does_not_parse(http, sim):
    response = embed(http, sim, "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_cut_after_sends_half_a_body(http, sim):
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        embed(http, sim, "cut_after=0")


def test_faults_come_from_the_control_api_header_and_directive(http, sim):
    sim.set_fault("emb", status=502, times=1)
    assert [embed(http, sim, "emb").status_code for _ in range(2)] == [502, 200]

    response = embed(http, sim, headers={"x-sim-fault": "status=429,retry_after=4"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "4"

    assert embed(http, sim, input=["plain", "hi [sim status=503]"]).status_code == 503
    assert embed(http, sim, input="[sim bogus=1]").status_code == 400
    assert sim.stats()["scopes"]["emb"]["endpoints"] == {"POST /v1/embeddings": 2}
