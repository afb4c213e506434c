"""reAPI in its production shape for the benchmarks: PostgreSQL, Redis, uvicorn with several
workers and no access log, real key auth, holds, settles and usage rows."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench import overhead

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/reapi_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"

# Models whose first route fails, each with the demo `simulator` provider as second route.
FAILOVER_MODELS = {"bench-failover-refused": "bench-refused", "bench-failover-503": "bench-503"}

# Run in `manage.py shell -c`: idempotent, and it rewrites the providers' URLs, because the
# simulator's and the closed port change from run to run.
_FAILOVER_CODE = """
import json
from catalog.models import Model, Price, Provider, Route
spec = json.loads({spec!r})
fallback = Provider.objects.get(slug="simulator")
base = Model.objects.get(slug="gpt-5-mini")
price = base.prices.order_by("-effective_from").first()
price_fields = ["effective_from", "input_micros_per_mtok", "cached_input_micros_per_mtok",
                "output_micros_per_mtok", "per_request_micros", "image_micros",
                "video_micros_per_second"]
for model_slug, (provider_slug, url) in spec.items():
    provider, _ = Provider.objects.update_or_create(
        slug=provider_slug,
        defaults={{"name": provider_slug, "kind": "simulator", "base_url": url, "enabled": True}},
    )
    model, _ = Model.objects.update_or_create(
        slug=model_slug,
        defaults={{"display_name": model_slug, "kind": "chat", "max_output_tokens": 1000,
                  "enabled": True, "owned_by": "bench"}},
    )
    for prov, priority in ((provider, 0), (fallback, 1)):
        Route.objects.update_or_create(
            model=model, provider=prov, upstream_model="gpt-5-mini",
            defaults={{"priority": priority, "enabled": True}},
        )
    values = {{f: getattr(price, f) for f in price_fields}}
    Price.objects.update_or_create(
        model=model, effective_from=values.pop("effective_from"),
        defaults={{**values, "note": "bench: copy of gpt-5-mini"}},
    )
print("failover catalog ready")
"""


def redacted(url: str) -> str:
    """A service URL without its credentials, for the report."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def ensure_default_database() -> None:
    """Create the default bench database if it is missing (local PostgreSQL, trust auth)."""
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc"]
    name = database_name(DEFAULT_DATABASE_URL)
    query = f"select 1 from pg_database where datname = '{name}'"  # noqa: S608 - a constant
    found = subprocess.run([*psql, query], capture_output=True, text=True, check=True, timeout=30)
    if found.stdout.strip() != "1":
        subprocess.run([*psql, f"create database {name}"], check=True, timeout=30)


def vacuum(database_url: str) -> str:
    """VACUUM ANALYZE the bench database and say whether autovacuum is on. Every request
    updates its account's and key's rows twice and a hold once; a PostgreSQL with autovacuum
    off (as on the development machines here) keeps every dead row from earlier runs, and
    each run then measures a more bloated database than the one before."""
    import psycopg  # the project's own driver, in the venv the bench runs from

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SHOW autovacuum").fetchone()
    return row[0] if row else "unknown"


def prepare(env: dict[str, str], simulator_url: str, closed_port: int) -> str:
    """Migrate, load the demo catalog, add the failover models; return a fresh API key."""
    key = overhead.prepare(env)  # migrate, load_demo_catalog, bench user with credits, key
    spec = {
        "bench-failover-refused": ("bench-refused", f"http://127.0.0.1:{closed_port}/v1"),
        "bench-failover-503": ("bench-503", f"{simulator_url}/s/status=503/v1"),
    }
    code = _FAILOVER_CODE.format(spec=json.dumps(spec))
    subprocess.run(  # noqa: S603
        [*MANAGE, "shell", "-c", code], env=env, check=True, capture_output=True, timeout=120
    )
    return key


def start(
    env: dict[str, str],
    port: int,
    workers: int,
    log: Path,
    *,
    root: Path = ROOT,
    role: str = "api",
) -> subprocess.Popen[bytes]:
    """reAPI from `root` (this tree, or another revision's worktree for bench/ab.py).

    `role`: `api` is production's shape of the servers of /v1 (docs/deploy.md, an API-only
    pool); `all` also loads the pages, as `make run` does. Revisions before the roles know
    only `all`."""
    args = [
        # reapi.serve: uvicorn with TCP_NODELAY on the shared socket (see its docstring).
        sys.executable, "-m", "reapi.serve", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--log-level", "warning",
        *(["--role", role] if role != "all" else []),
    ]  # fmt: skip
    with log.open("ab") as out:
        # Its own session, so a Ctrl-C reaches only us and we stop it in order (by PID).
        return subprocess.Popen(  # noqa: S603
            args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(process: subprocess.Popen[bytes], port: int, key: str, limit_s: float = 60) -> None:
    """Until an authenticated chat completion succeeds (the catalog and key are visible)."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    body = json.dumps(
        {"model": "gpt-5-mini", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
    )
    deadline = time.monotonic() + limit_s
    with requests.Session() as http:
        http.trust_env = False
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"reAPI exited with {process.returncode}")
            try:
                if http.post(url, data=body, headers=headers, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
    raise RuntimeError(f"reAPI did not answer within {limit_s:g}s")
