"""The OpenAPI document of /v1 describes every route the server has, with exactly the body
fields each parser accepts, and the API reference page shows it."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse

from gateway import openapi, schemas, views
from gateway.codecs.anthropic import MESSAGES_FIELDS


def test_every_route_is_described_and_nothing_else():
    described = {(path, method.upper()) for path, method in openapi.operations()}
    served = {(path, method) for path, methods in views.ROUTES.items() for method in methods}
    assert described == served


def test_request_bodies_list_exactly_what_the_parsers_accept():
    doc = openapi.document("http://api.example")

    def fields(path: str) -> set[str]:
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        return set(body["schema"]["properties"])

    assert fields("/v1/chat/completions") == schemas.CHAT_FIELDS
    assert fields("/v1/embeddings") == schemas.EMBEDDINGS_FIELDS
    assert fields("/v1/images/generations") == schemas.IMAGE_FIELDS
    assert fields("/v1/responses") == schemas.RESPONSES_FIELDS
    assert fields("/v1/messages") == MESSAGES_FIELDS
    assert fields("/v1/videos") == schemas.VIDEO_FIELDS
    edits = doc["paths"]["/v1/images/edits"]["post"]["requestBody"]["content"]
    assert set(edits["multipart/form-data"]["schema"]["properties"]) == (
        schemas.IMAGE_EDIT_FIELDS | {"image", "mask"}
    )


def test_the_schema_is_served_with_the_real_base_url_and_the_page_shows_it(db):
    answer = Client().get(reverse("gateway:api-schema"))
    doc = json.loads(answer.content)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "http://testserver"}]
    refs = json.dumps(doc)
    for name in doc["components"]["schemas"]:
        assert f"#/components/schemas/{name}" in refs  # every component is used
    page = Client().get(reverse("gateway:api-reference")).content.decode()
    for path in views.ROUTES:
        assert f"<code>{path}</code>" in page
    assert "max_completion_tokens" in page and "Idempotency-Key" in page
