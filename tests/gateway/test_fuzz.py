"""Schema fuzzing of /v1 from its own OpenAPI document (gateway/openapi.py), against the real
server: valid-shaped and deliberately invalid requests for every operation. No answer is a
5xx; every refusal comes in its protocol's error shape; a refused request changes no money
(one the upstream refuses after our checks leaves only its hold and that hold's release).

`make test` runs FUZZ_EXAMPLES (default 6) examples per operation and mode; `make fuzz`
runs many more."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from billing.models import LedgerEntry
from gateway import openapi, videos
from gateway.models import VideoJob

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
ANTHROPIC_PATHS = {"/v1/messages", "/v1/messages/count_tokens"}


MODELS = ["sim-chat", "sim-image", "sim-video"]


def _operations(base_url: str):
    """The served document, with `model` narrowed to the test's models so that valid-shaped
    requests get past the model lookup into pricing, holds and the upstream."""
    document = openapi.document(base_url)
    for methods in document["paths"].values():
        for operation in methods.values():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                properties = media["schema"].get("properties", {})
                if "model" in properties:
                    properties["model"] = {"enum": MODELS}
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


def _check_refusal(path: str, response) -> None:
    body = response.json()
    if path in ANTHROPIC_PATHS:
        assert body["type"] == "error" and body["error"]["message"], body
    else:
        assert isinstance(body["error"]["message"], str) and body["error"]["type"], body


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_breaks_the_api_or_moves_money_when_refused(
    gateway, image_model, video_model, mode
):
    headers = {"authorization": f"Bearer {gateway.raw_key}"}
    seen: dict[int, int] = {}
    for operation in _operations(gateway.url):

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case) -> None:
            last = LedgerEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            balance = gateway.balance()
            response = case.call(base_url=gateway.url, headers=headers, timeout=15,
                                 allow_redirects=False)  # fmt: skip
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (case.method, case.path, response.text[:300])
            if response.status_code >= 400:
                _check_refusal(case.operation.path, response)
                # Refused by us: no entry at all. Refused by the upstream after the hold: the
                # hold and its release, nothing else. Either way the balance is as it was.
                new = list(
                    LedgerEntry.objects.filter(pk__gt=last).values_list("kind", "amount_micros")
                )
                assert {kind for kind, _ in new} <= {"hold", "release"}, new
                assert sum(amount for _, amount in new) == 0, new
                assert gateway.balance() == balance

        call()
    assert seen  # something was sent
    # Accepted video jobs hold their price until they end: cancel them (refunded in full).
    for job in VideoJob.objects.filter(status__in=videos.IN_FLIGHT):
        videos.delete(job)
    gateway.assert_books_closed()
