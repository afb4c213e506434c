"""Did a change make reAPI faster? This tree against another revision, interleaved.

    .venv/bin/python bench/ab.py --base 316fade [--rounds 4] [--seconds 5] [--workers 1]

On a shared 2-core machine, figures drift by a third within an hour, so two `make bench`
runs taken apart cannot tell a 10% change from the weather. Here both versions run at once,
on the same simulator, database (migrated by this tree) and Redis, and their wrk cells
alternate, A B B A A B ..., so drift hits both alike. Prints the median of each figure over
the rounds and every round's value, and writes them to bench/results/ab-<stamp>.md.

The other revision is checked out as a git worktree under bench/.var/ab/ and removed after.
It runs with this tree's interpreter and packages, against this tree's schema: fine for
revisions close to this one, which is what the question usually is."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import compare, procs, reapi_server, wrkload  # noqa: E402
from simulator.testing import closed_port, free_port, start_simulator  # noqa: E402

FIGURES = ("rps", "p50", "p99", "cpu_ms", "svc_ms")
LABELS = {"rps": "requests/s", "p50": "p50 ms", "p99": "p99 ms", "cpu_ms": "CPU ms/req",
          "svc_ms": "PG+Redis CPU ms/req"}  # fmt: skip


def git(*args: str) -> str:
    out = subprocess.run(  # noqa: S603
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk cell")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--role", choices=("all", "api"), default="all",
        help="reapi.serve --role for both (api only when both revisions have it)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()

    base = git("rev-parse", "--verify", f"{args.base}^{{commit}}")
    changed = git("status", "--porcelain", "--untracked-files=no")
    head = git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "bench" / ".var" / "ab" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    tree = run_dir / "base"
    git("worktree", "add", "--detach", str(tree), base)

    sim = start_simulator(quiet=True)
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        env = compare.reapi_env(sim.base_url)
        reapi_server.ensure_default_database()
        key = reapi_server.prepare(env, sim.base_url, closed_port())
        reapi_server.vacuum(env["DATABASE_URL"])
        for name, root in (("A (this tree)", ROOT), (f"B ({args.base})", tree)):
            port = free_port()
            log = run_dir / f"{name.split()[0]}.log"
            process = reapi_server.start(env, port, args.workers, log, root=root, role=args.role)
            servers[name] = (process, port)
        for process, port in servers.values():
            reapi_server.wait_ready(process, port, key)
            procs.wait_idle(process.pid)
        db = reapi_server.database_name(env["DATABASE_URL"])
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        script = wrkload.write_script(run_dir / "wrk.lua", compare.chat_body(), headers)
        targets = {
            name: compare.Target(name, f"http://127.0.0.1:{port}/v1", key, process.pid,
                                 script=script)
            for name, (process, port) in servers.items()
        }  # fmt: skip
        for t in targets.values():  # warm-up: pools, caches, lazily imported code
            wrkload.run(t.chat_url, script, connections=16, seconds=2)

        cells: dict[tuple[int, str], list[compare.Cell]] = {}
        names = list(targets)
        for r in range(args.rounds):
            order = names if r % 2 == 0 else names[::-1]
            for c in args.concurrency:
                for name in order:
                    compare.say(f"round {r + 1}, c={c}: {name}")
                    cell = compare.nonstream_cell(targets[name], c, args.seconds, db,
                                                  run_dir / "wrk.log")  # fmt: skip
                    cells.setdefault((c, name), []).append(cell)
        text = report(args, head, cells, names)
        print(text)
        out = ROOT / "bench" / "results" / f"ab-{stamp}.md"
        out.write_text(text)
        compare.say(f"written to {out.relative_to(ROOT)}")
    finally:
        for process, _ in servers.values():
            procs.stop(process)
        sim.stop()
        git("worktree", "remove", "--force", str(tree))


def report(args: argparse.Namespace, head: str, cells: dict, names: list[str]) -> str:
    lines = [
        f"# A/B: {head} against {args.base}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{args.rounds} rounds, wrk cells of {args.seconds:g} s alternating A and B, "
        f"{args.workers} worker(s) each, same simulator, PostgreSQL and Redis. Medians, then "
        "every round; B ÷ A below 1 means B is lower.",
        "",
        "| concurrency | version | " + " | ".join(LABELS[k] for k in FIGURES) + " | errors |",
        "| ---: | --- |" + " ---: |" * (len(FIGURES) + 1),
    ]
    for c in args.concurrency:
        medians = {}
        for name in names:
            runs = cells[(c, name)]
            medians[name] = {k: statistics.median(getattr(x, k) for x in runs) for k in FIGURES}
            values = " | ".join(compare.f(medians[name][k], 0 if k == "rps" else 3)
                                for k in FIGURES)  # fmt: skip
            lines.append(f"| {c} | {name} | {values} | {sum(x.errors for x in runs)} |")
        a, b = (medians[n] for n in names)
        lines.append(f"| {c} | **B ÷ A** | "
                     + " | ".join(compare.ratio(b[k], a[k]) for k in FIGURES) + " | |")  # fmt: skip
    lines += ["", "Every round (requests/s; CPU ms/req):", ""]
    for (c, name), runs in cells.items():
        rounds = ", ".join(f"{x.rps:.0f}; {x.cpu_ms:.3f}" for x in runs)
        lines.append(f"- c={c}, {name}: {rounds}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
