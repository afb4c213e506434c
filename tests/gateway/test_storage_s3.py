"""Stored assets on an S3 API (what R2 speaks): a moto server on loopback stands in for the
bucket. moto does not check signatures (a tampered presigned URL still answers 200 there),
so what a link may do is tested through our own code: our signature and expiry are checked
before any redirect to the bucket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from gateway import assets
from gateway.models import Asset
from simulator.testing import free_port

BUCKET = "reapi-assets"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (moto's own server, on loopback)
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "moto did not start"
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bucket(moto_url, settings):
    s3 = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    try:
        s3.create_bucket(Bucket=BUCKET)
    except ClientError:
        pass
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET, "endpoint_url": moto_url, "region_name": "us-east-1",
                "access_key": "test", "secret_key": "test", "addressing_style": "path",
                "querystring_auth": True, "file_overwrite": False, "signature_version": "s3v4",
            },
        },
    }  # fmt: skip
    return s3


def test_an_image_is_kept_in_the_bucket_and_its_link_redirects_to_a_short_lived_url(
    gateway, image_model, bucket
):
    link = (
        gateway.client()
        .images.generate(model="sim-image", prompt="A bridge", response_format="url")
        .data[0]
        .url
    )
    asset = Asset.objects.get()
    stored = bucket.get_object(Bucket=BUCKET, Key=asset.storage_name)["Body"].read()
    assert stored.startswith(b"\x89PNG") and len(stored) == asset.size_bytes
    redirect = requests.get(link, timeout=5, allow_redirects=False)
    assert redirect.status_code == 302
    target = urlsplit(redirect.headers["location"])
    assert target.netloc == urlsplit(bucket.meta.endpoint_url).netloc
    assert int(parse_qs(target.query)["X-Amz-Expires"][0]) <= 300  # presigned, short-lived
    assert requests.get(redirect.headers["location"], timeout=5).content == stored


def test_our_checks_come_before_the_bucket(gateway, image_model, bucket):
    gateway.client().images.generate(model="sim-image", prompt="A road", response_format="url")
    asset = Asset.objects.get()
    stale = gateway.url + assets.signed_path(asset, now=time.time() - 7200)
    refused = requests.get(stale, timeout=5, allow_redirects=False)
    assert refused.status_code == 403 and "location" not in refused.headers
    forged = f"{gateway.url}/files/{asset.pk}?expires={int(time.time()) + 60}&signature=00"
    assert requests.get(forged, timeout=5, allow_redirects=False).status_code == 403


def test_retention_deletes_the_object_from_the_bucket(gateway, image_model, bucket):
    gateway.client().images.generate(model="sim-image", prompt="A hill", response_format="url")
    asset = Asset.objects.get()
    bucket.head_object(Bucket=BUCKET, Key=asset.storage_name)
    assert assets.delete_expired(now=asset.expires_at + timedelta(seconds=1)) == 1
    with pytest.raises(ClientError):
        bucket.head_object(Bucket=BUCKET, Key=asset.storage_name)
