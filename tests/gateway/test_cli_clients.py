"""Codex CLI and Claude Code, the real released binaries, pointed at the test gateway by base
URL and key, complete a task through it: a text answer, and a tool loop (the model asks for a
tool, the client runs it and sends the result back, the model answers).

`make test` installs the pinned clients into var/cli-clients with npm (Makefile,
`cli-clients`). Without npm they are skipped, and the skip says why.

Both clients are kept on loopback: HTTP(S)_PROXY points at a closed loopback port with
NO_PROXY for 127.0.0.1, so their update checks and telemetry fail at once instead of leaving
the machine, and Claude Code's non-essential traffic is switched off.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from billing import ledger
from catalog import selectors
from gateway.models import UsageRecord
from simulator.testing import closed_port

CLIENTS = Path(settings.BASE_DIR) / "var" / "cli-clients" / "node_modules" / ".bin"
CODEX = CLIENTS / "codex"
CLAUDE = CLIENTS / "claude"
TIMEOUT_S = 120
CLAUDE_MODEL = "claude-sonnet-4-5"


def _binary(path: Path) -> str:
    if not path.exists():
        pytest.skip(f"{path.name} is not installed: `make cli-clients` needs npm")
    return str(path)


def _loopback_only_env(home: Path, **extra: str) -> dict[str, str]:
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.update(extra)
    return env


def _run(argv: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 (the pinned client binaries)
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result


def _assert_charged_exactly(gateway, before: int, *, endpoint: str, requests: int) -> None:
    rows = list(UsageRecord.objects.filter(user=gateway.user).order_by("id"))
    assert [r.endpoint for r in rows] == [endpoint] * requests
    assert all(r.status == "ok" and r.stream for r in rows)
    for row in rows:
        assert row.charged_micros == gateway.cost(row.input_tokens, row.output_tokens)
    assert before - gateway.balance() == sum(r.charged_micros for r in rows)
    gateway.assert_books_closed()


@pytest.fixture
def codex_home(tmp_path, gateway) -> Path:
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "sim-chat"\n'
        'model_provider = "reapi"\n'
        "check_for_update_on_startup = false\n\n"
        "[model_providers.reapi]\n"
        'name = "reAPI"\n'
        f'base_url = "{gateway.url}/v1"\n'
        'env_key = "REAPI_API_KEY"\n'
        'wire_api = "responses"\n\n'
        "[analytics]\n"
        "enabled = false\n"
    )
    return home


def _codex(gateway, codex_home: Path, workdir: Path, prompt: str) -> list[dict]:
    env = _loopback_only_env(workdir, CODEX_HOME=str(codex_home), REAPI_API_KEY=gateway.raw_key)
    result = _run(
        [_binary(CODEX), "exec", "--json", "--skip-git-repo-check", "--sandbox", "read-only",
         prompt],
        env=env, cwd=workdir,
    )  # fmt: skip
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_codex_cli_answers_a_prompt_through_the_responses_api(gateway, codex_home, tmp_path):
    before = gateway.balance()
    events = _codex(gateway, codex_home, tmp_path, "[sim tokens=5] Say hello.")
    done = [e["item"] for e in events if e["type"] == "item.completed"]
    messages = [item["text"] for item in done if item["type"] == "agent_message"]
    assert len(messages) == 1 and len(messages[0].split()) == 5
    assert events[-1]["type"] == "turn.completed"
    _assert_charged_exactly(gateway, before, endpoint="responses", requests=1)
    row = UsageRecord.objects.get(user=gateway.user)
    assert row.output_tokens == 5
    # What Codex reports having used is what we billed.
    assert events[-1]["usage"]["input_tokens"] == row.input_tokens
    assert events[-1]["usage"]["output_tokens"] == row.output_tokens


def test_codex_cli_runs_a_tool_and_sends_its_output_back(gateway, codex_home, tmp_path):
    before = gateway.balance()
    events = _codex(gateway, codex_home, tmp_path, "[sim tool tokens=3] Run a command.")
    done = [e["item"] for e in events if e["type"] == "item.completed" and "item" in e]
    # The simulator calls the first tool Codex declares; which one that is varies between
    # runs (shell, plan update, ...), so the loop is checked, not the tool: Codex ran it and
    # sent its output back in a second request, which was answered with text.
    assert events[-1]["type"] == "turn.completed"
    assert done[-1]["type"] == "agent_message" and len(done[-1]["text"].split()) == 3
    _assert_charged_exactly(gateway, before, endpoint="responses", requests=2)


@pytest.fixture
def claude_env(gateway, tmp_path) -> dict[str, str]:
    # Claude Code sends its full request (tools included) only for model names it knows.
    gateway.model.slug = CLAUDE_MODEL
    gateway.model.max_output_tokens = 64_000  # it asks for 32,000 by default
    gateway.model.save()
    selectors.invalidate()
    ledger.grant(gateway.account(), amount_micros=1_000 * 1_000_000, idempotency_key="claude")
    return _loopback_only_env(
        tmp_path,
        ANTHROPIC_BASE_URL=gateway.url,
        ANTHROPIC_API_KEY=gateway.raw_key,
        ANTHROPIC_DEFAULT_HAIKU_MODEL=CLAUDE_MODEL,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
    )


def _claude(env: dict[str, str], workdir: Path, prompt: str, *extra: str) -> dict:
    result = _run(
        [_binary(CLAUDE), "-p", prompt, "--model", CLAUDE_MODEL, "--output-format", "json",
         *extra],
        env=env, cwd=workdir,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_claude_code_answers_a_prompt_through_the_messages_api(gateway, claude_env, tmp_path):
    before = gateway.balance()
    out = _claude(claude_env, tmp_path, "[sim tokens=5] Say hello.", "--tools", "")
    assert out["is_error"] is False and out["num_turns"] == 1
    assert len(out["result"].split()) == 5
    _assert_charged_exactly(gateway, before, endpoint="messages", requests=1)
    row = UsageRecord.objects.get(user=gateway.user)
    # What Claude Code reports having used is what we billed.
    assert out["usage"]["input_tokens"] == row.input_tokens
    assert out["usage"]["output_tokens"] == row.output_tokens == 5


def test_claude_code_runs_a_tool_and_sends_its_result_back(gateway, claude_env, tmp_path):
    before = gateway.balance()
    out = _claude(claude_env, tmp_path, "[sim tool tokens=4] Read a file.", "--tools", "Read")
    assert out["is_error"] is False and out["num_turns"] == 2, json.dumps(out)
    assert len(out["result"].split()) == 4
    _assert_charged_exactly(gateway, before, endpoint="messages", requests=2)
