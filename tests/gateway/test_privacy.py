"""Nothing a customer asks is stored or logged (DESIGN.md, non-negotiables)."""

from __future__ import annotations

import logging

import openai
import pytest
from django.db import connection

CANARY = "CANARY-7f3a9c-never-store-me"


def rows_containing(text: str) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                if text in repr(row):
                    found.append(table)
    return found


def test_a_canary_in_prompts_reaches_no_row_and_no_log_line(gateway, caplog):
    caplog.set_level(logging.DEBUG)
    client = gateway.client()
    messages = [
        {"role": "system", "content": f"System {CANARY}"},
        {"role": "user", "content": [{"type": "text", "text": f"Please repeat {CANARY}"}]},
    ]
    client.chat.completions.create(model="sim-chat", messages=messages)
    list(client.chat.completions.create(model="sim-chat", messages=messages, stream=True))
    # Failure paths too: an upstream error, a cut stream and a rejected request.
    gateway.sim.set_fault("a", status=400)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="sim-chat", messages=messages)
    gateway.sim.set_fault("a", cut_after=2)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="sim-chat", messages=messages, stream=True))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="sim-chat", messages=[{"role": CANARY, "content": CANARY}]
        )
    assert rows_containing(CANARY) == []
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert CANARY not in repr(record.__dict__)
    assert CANARY not in caplog.text
    assert gateway.raw_key not in caplog.text


CLIENT_LOGGERS = ("openai", "anthropic", "httpx", "httpcore", "urllib3")


def _cache_keys() -> list[str]:
    """Every key in the shared cache (Redis in CI, local memory otherwise)."""
    from django.conf import settings
    from django.core.cache import cache

    if settings.REDIS_URL:
        import redis

        return [k.decode("latin-1") for k in redis.Redis.from_url(settings.REDIS_URL).keys("*")]
    return [str(key) for key in cache._cache]  # LocMemCache's own dict


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
def test_a_canary_in_every_protocol_tools_and_media_reaches_no_row_log_metric_or_cache_key(
    gateway, image_model, video_model, caplog
):
    import anthropic
    from django.test import Client

    from simulator.openai_images import solid_png
    from tests.gateway.test_videos import run_until_done

    caplog.set_level(logging.DEBUG)
    client = gateway.client()
    parameters = {"type": "object", "properties": {"q": {"type": "string", "description": CANARY}}}
    function = {"name": "lookup", "description": f"Looks up {CANARY}", "parameters": parameters}
    tool = {"type": "function", "function": function}
    client.chat.completions.create(
        model="sim-chat", tools=[tool],
        messages=[{"role": "user", "content": f"Use the tool on {CANARY}"},
                  {"role": "assistant", "content": None, "tool_calls": [{
                      "id": "call_1", "type": "function",
                      "function": {"name": "lookup", "arguments": f'{{"q": "{CANARY}"}}'}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": f"found {CANARY}"}],
    )  # fmt: skip
    client.responses.create(model="sim-chat", input=f"Responses {CANARY}",
                            instructions=f"Be {CANARY}")  # fmt: skip
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=gateway.raw_key, max_retries=0)
    claude.messages.create(
        model="sim-chat", max_tokens=20, system=f"System {CANARY}",
        messages=[{"role": "user", "content": f"Anthropic {CANARY}"}],
    )  # fmt: skip
    client.images.generate(model="sim-image", prompt=f"Image {CANARY}", size="1024x1024")
    picture = solid_png(16, 16, b"\x10\x20\x30")
    client.images.edit(model="sim-image", prompt=f"Edit {CANARY}",
                       image=("in.png", picture, "image/png"))  # fmt: skip
    job = client.videos.create(model="sim-video", prompt=f"[sim job_ms=0] Video {CANARY}",
                               seconds="4", size="1280x720")  # fmt: skip
    run_until_done(job.id)
    metrics_text = Client().get("/metrics").content.decode()

    assert rows_containing(CANARY) == []
    # The SDKs in this process log their own requests at DEBUG; what matters is ours.
    ours = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert ours and not [r for r in ours if CANARY in repr(r.__dict__)]
    assert CANARY not in metrics_text
    assert not [key for key in _cache_keys() if CANARY in key]
