"""POST /v1/images/generations through the gateway to the simulator's images endpoint: the
openai SDK, per-image prices by size and quality, partial deliveries, our own signed links,
retention."""

from __future__ import annotations

import base64
import struct
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import openai
import pytest
import requests
from django.core.files.storage import default_storage
from django.utils import timezone

from catalog import selectors
from catalog.models import Price
from gateway import assets
from gateway.models import Asset, UsageRecord
from tests.gateway.conftest import LOW, MEDIUM


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


def test_images_come_back_as_base64_and_cost_their_price_each(gateway, image_model):
    before = gateway.balance()
    raw = gateway.client().images.with_raw_response.generate(
        model="sim-image", prompt="A red fox in snow", n=2, size="1024x1024", quality="low"
    )
    result = raw.parse()
    pictures = [base64.b64decode(item.b64_json) for item in result.data]
    assert len(pictures) == 2 and all(png_size(p) == (1024, 1024) for p in pictures)
    assert raw.headers["x-reapi-credits-charged"] == "0.02"
    assert gateway.balance() == before - 2 * LOW
    row = UsageRecord.objects.get()
    assert (row.endpoint, row.units, row.charged_micros, row.held_micros) == (
        "images.generations", 2, 2 * LOW, 2 * LOW,
    )  # fmt: skip
    gateway.assert_books_closed()


def test_a_url_answer_links_to_our_stored_file_never_the_upstreams(gateway, image_model):
    before = gateway.balance()
    result = gateway.client().images.generate(
        model="sim-image", prompt="A lighthouse", size="1024x1024", response_format="url"
    )
    link = result.data[0].url
    assert link.startswith(gateway.url + "/files/")
    fetched = requests.get(link, timeout=5)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert png_size(fetched.content) == (1024, 1024)
    # The same prompt as base64 gives the same picture: the file is what the upstream made.
    again = gateway.client().images.generate(
        model="sim-image", prompt="A lighthouse", size="1024x1024"
    )
    assert base64.b64decode(again.data[0].b64_json) == fetched.content
    assert gateway.balance() == before - 2 * MEDIUM  # quality auto: the 1024x1024:* price
    asset = Asset.objects.get()
    assert asset.user_id == gateway.user.pk and asset.size_bytes == len(fetched.content)


def test_links_are_refused_when_tampered_or_expired_and_files_go_after_retention(
    gateway, image_model
):
    link = (
        gateway.client()
        .images.generate(model="sim-image", prompt="A boat", response_format="url")
        .data[0]
        .url
    )
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    asset = Asset.objects.get()
    later = int(query["expires"][0]) + 3600
    forged = f"{gateway.url}{parts.path}?expires={later}&signature={query['signature'][0]}"
    assert requests.get(forged, timeout=5).status_code == 403
    other = Asset.objects.create(
        user=gateway.user, request_id="req_x", kind="image", content_type="image/png",
        size_bytes=1, storage_name="assets/none.png", expires_at=asset.expires_at,
    )  # fmt: skip
    swapped = f"{gateway.url}/files/{other.id}?{parts.query}"
    assert requests.get(swapped, timeout=5).status_code == 403  # a link is for one file
    stale = gateway.url + assets.signed_path(asset, now=time.time() - 7200)
    refused = requests.get(stale, timeout=5)
    assert refused.status_code == 403 and "expired" in refused.json()["error"]["message"]

    # Past retention: the periodic task deletes the file; its link now says 410.
    assert default_storage.exists(asset.storage_name)
    deleted = assets.delete_expired(now=asset.expires_at + timedelta(seconds=1))
    assert deleted == 2
    assert not default_storage.exists(asset.storage_name)
    Asset.objects.filter(pk=asset.pk).update(expires_at=timezone.now() + timedelta(days=1))
    gone = requests.get(link, timeout=5)
    assert gone.status_code == 410 and "deleted" in gone.json()["error"]["message"]


def test_a_partial_delivery_charges_only_the_images_delivered(gateway, image_model):
    before = gateway.balance()
    result = gateway.client().images.generate(
        model="sim-image", prompt="[sim images=1] Three cats", n=3, size="1024x1024",
        quality="low",
    )  # fmt: skip
    assert len(result.data) == 1
    assert gateway.balance() == before - LOW
    row = UsageRecord.objects.get()
    assert (row.units, row.held_micros, row.charged_micros) == (1, 3 * LOW, LOW)
    gateway.assert_books_closed()


def test_upstream_failure_charges_nothing(gateway, image_model):
    gateway.sim.set_fault("i", status=503)
    before = gateway.balance()
    with pytest.raises(openai.APIStatusError) as failed:
        gateway.client().images.generate(model="sim-image", prompt="A tree")
    assert failed.value.status_code == 502
    assert gateway.balance() == before
    gateway.assert_books_closed()


@pytest.mark.parametrize(
    "extra,param",
    [
        ({"n": 5}, "n"),  # the model makes at most 4
        ({"n": 0}, "n"),
        ({"size": "big"}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"response_format": "gif"}, "response_format"),
        ({"colour": "red"}, "colour"),
        ({"stream": True}, "stream"),
    ],
)
def test_bad_image_requests_get_a_400_and_change_nothing(gateway, image_model, extra, param):
    before = gateway.balance()
    response = requests.post(
        gateway.url + "/v1/images/generations",
        json={"model": "sim-image", "prompt": "A cat", **extra},
        headers={"authorization": f"Bearer {gateway.raw_key}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert gateway.balance() == before and gateway.sim.request_count("i") == 0


def test_a_size_without_a_price_is_refused_before_anything_is_held(gateway, image_model):
    Price.objects.filter(model=image_model).update(image_micros={"1024x1024:*": MEDIUM})
    selectors.invalidate()
    with pytest.raises(openai.BadRequestError) as refused:
        gateway.client().images.generate(model="sim-image", prompt="A cat", size="512x512")
    assert refused.value.param == "size" and "512x512" in refused.value.message
    assert gateway.sim.request_count("i") == 0


def test_not_enough_credits_for_n_images_is_a_402(gateway, image_model):
    from billing import ledger

    account = gateway.account()
    ledger.debit(account, amount_micros=account.balance_micros - 3 * LOW + 1,
                 idempotency_key="drain", kind="adjustment", memo="test")  # fmt: skip
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.client().images.generate(model="sim-image", prompt="A cat", n=3, quality="low",
                                         size="1024x1024")  # fmt: skip
    assert refused.value.status_code == 402 and "3 images" in refused.value.message
    assert gateway.sim.request_count("i") == 0


def test_an_edit_of_uploaded_images_is_priced_like_a_generation(gateway, image_model):
    from simulator.openai_images import solid_png

    original = solid_png(64, 64, bytes((10, 120, 200)))
    before = gateway.balance()
    raw = gateway.client().images.with_raw_response.edit(
        model="sim-image", image=("in.png", original, "image/png"), prompt="Make it red",
        n=2, size="1024x1024", quality="low",
    )  # fmt: skip
    edited = [base64.b64decode(item.b64_json) for item in raw.parse().data]
    assert len(edited) == 2 and all(png_size(p) == (1024, 1024) for p in edited)
    assert gateway.balance() == before - 2 * LOW
    assert UsageRecord.objects.get().endpoint == "images.edits"
    # Several images and a mask go through too.
    more = gateway.client().images.edit(
        model="sim-image", prompt="Blend them", size="1024x1024", quality="low",
        image=[("a.png", original, "image/png"), ("b.png", original, "image/png")],
        mask=("mask.png", original, "image/png"),
    )  # fmt: skip
    assert len(more.data) == 1
    gateway.assert_books_closed()


@pytest.mark.parametrize(
    "files,data,param",
    [
        ({"image": ("in.txt", b"hello", "text/plain")}, {"prompt": "x"}, "image"),
        ({"mask": ("m.png", b"\x89PNG\r\n\x1a\n....", "image/png")}, {"prompt": "x"}, "image"),
        ({"image": ("in.png", b"\x89PNG\r\n\x1a\n....", "image/png")}, {}, "prompt"),
        ({"photo": ("in.png", b"\x89PNG\r\n\x1a\n....", "image/png")}, {"prompt": "x"}, "photo"),
    ],
)
def test_bad_edits_get_a_400_and_change_nothing(gateway, image_model, files, data, param):
    before = gateway.balance()
    response = requests.post(
        gateway.url + "/v1/images/edits", files=files, data={"model": "sim-image", **data},
        headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5,
    )  # fmt: skip
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert gateway.balance() == before and gateway.sim.request_count("i") == 0


def test_an_edit_sent_as_json_is_told_to_use_a_form(gateway, image_model):
    response = requests.post(
        gateway.url + "/v1/images/edits", json={"model": "sim-image", "prompt": "x"},
        headers={"authorization": f"Bearer {gateway.raw_key}"}, timeout=5,
    )  # fmt: skip
    assert response.status_code == 400 and "multipart" in response.json()["error"]["message"]
