"""The LiteLLM proxy as the comparison point: a config equivalent to reAPI's bench catalog, and
starting it from its own virtualenv (bench/.litellm-venv) on loopback, with no database.

Settings and where LiteLLM 1.108.7 documents them (paths under site-packages/litellm/):
- `router_settings` keys are passed to `litellm.Router(...)` (proxy/proxy_server.py, "ROUTER
  SETTINGS"); their meaning is in the `Router.__init__` signature and docstring (router.py).
- `fallbacks: [{"<model group>": ["<fallback group>"]}]` (router.py, `validate_fallbacks` and the
  docstring example): when a model group fails, the next group in the list is tried.
- `num_retries: 0`: the router otherwise retries the failing deployment first
  (default `openai.DEFAULT_MAX_RETRIES`, 2, with backoff), which reAPI does not do: it moves
  to the next route at once. The OpenAI SDK's own retries are already 0 under the router
  (`default_litellm_params.setdefault("max_retries", 0)`).
- `disable_cooldowns: true`: otherwise a failing deployment is taken out of rotation for
  `cooldown_time` (5 s) after `allowed_fails`, and later requests would skip the dead route
  instead of trying it; reAPI has no circuit breaker yet (issue 7), so both must try it.
- `general_settings.master_key`: requests must carry a bearer key, as reAPI's do (LiteLLM
  checks it against the configured key; with no database there are no virtual keys).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".litellm-venv"
BINARY = VENV / "bin" / "litellm"

# Keep every fetch of LiteLLM's remote data files local (they ship a bundled copy of each) and
# telemetry off: the machine has no internet and the benchmark talks to 127.0.0.1 only.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_TELEMETRY_DISABLED": "true",
    "LITELLM_LOG": "WARNING",  # also sets uvicorn's log level: no access log lines
    "NO_PROXY": "127.0.0.1,localhost",
}
# Inherited from the shell only these: nothing that could give LiteLLM a database, a Redis, a
# proxy or a real provider key (it reads DATABASE_URL, REDIS_*, *_API_KEY from the env).
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def version() -> str:
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    # cwd outside the package: litellm/types would shadow the stdlib's `types` module.
    out = subprocess.run(  # noqa: S603
        [str(VENV / "bin" / "python"), "-c", code],
        capture_output=True, text=True, check=True, cwd="/", timeout=30,
    )  # fmt: skip
    return out.stdout.strip()


def _deployment(model_name: str, api_base: str) -> dict[str, object]:
    return {
        "model_name": model_name,
        "litellm_params": {
            "model": "openai/gpt-5-mini",  # OpenAI-compatible provider, upstream model name
            "api_base": api_base,
            "api_key": "sk-bench-dummy",  # the simulator accepts any key
        },
    }


def config(simulator_url: str, closed_port: int, master_key: str) -> dict[str, object]:
    """gpt-5-mini → the simulator; each failover model → a failing deployment, falling back
    to the gpt-5-mini group (the same simulator deployment reAPI falls back to)."""
    return {
        "model_list": [
            _deployment("gpt-5-mini", f"{simulator_url}/v1"),
            _deployment("bench-failover-refused", f"http://127.0.0.1:{closed_port}/v1"),
            _deployment("bench-failover-503", f"{simulator_url}/s/status=503/v1"),
        ],
        "router_settings": {
            "num_retries": 0,
            "disable_cooldowns": True,
            "fallbacks": [
                {"bench-failover-refused": ["gpt-5-mini"]},
                {"bench-failover-503": ["gpt-5-mini"]},
            ],
        },
        "general_settings": {"master_key": master_key},
    }


def new_master_key() -> str:
    return "sk-bench-" + secrets.token_urlsafe(24)


def write_config(path: Path, cfg: dict[str, object]) -> Path:
    # JSON is valid YAML, and the project venv has no YAML writer.
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return path


def start(
    config_path: Path, port: int, workers: int, log: Path, cwd: Path
) -> subprocess.Popen[bytes]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ} | OFFLINE_ENV
    args = [
        str(BINARY), "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port),
        "--num_workers", str(workers),
    ]  # fmt: skip
    with log.open("ab") as out:
        # Its own session, so a Ctrl-C reaches only us and we stop it in order (by PID).
        return subprocess.Popen(  # noqa: S603
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(
    process: subprocess.Popen[bytes], port: int, master_key: str, limit_s: float = 180
) -> None:
    url = f"http://127.0.0.1:{port}/v1/models"
    headers = {"authorization": f"Bearer {master_key}"}
    deadline = time.monotonic() + limit_s
    with requests.Session() as http:
        http.trust_env = False
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"LiteLLM exited with {process.returncode}")
            try:
                if http.get(url, headers=headers, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
    raise RuntimeError(f"LiteLLM did not answer within {limit_s:g}s")
