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
