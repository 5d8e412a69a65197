"""Soak: mixed reads, imports and webhook triggers against `vsm serve` for a while; error rate,
p99 and the server's memory at the start and at the end.

Starts `vsm serve` (embedded default: SQLite file and the in-process worker; `--postgres` for a
fresh PostgreSQL schema) with one imported board and its webhook secret, then runs
`--concurrency` closed-loop clients for `--seconds`. Each request is drawn from the mix:

* reads (70 %): `GET /v1/boards`, `/v1/boards/{id}`, `/v1/boards/{id}/streams`,
  `/v1/boards/{id}/report`, `/v1/imports`;
* imports (10 %): `POST /v1/imports` of a 12-step dump on one of 20 boards, its text changed each
  time (a new revision);
* triggers (10 %): a signed `POST /v1/hooks/boards/{id}`, each with its own delivery id;
* the anchor (10 %): `GET /healthz`, the machine's and uvicorn's own tail in the same run.

An error is a 5xx answer, a connection failure, or an import job that ended `failed` (all jobs
are waited for at the end). 429s are counted apart (the per-key limit is raised for the run).
The server's RSS (`VmRSS` of the process and its children) is read after a warm-up of
`--warmup` seconds ("start") and after the last job finished ("end").

Targets: 0 errors; p99 of the reads <= 10 x the /healthz p99 of the same run; end RSS <= 1.25 x
start RSS (no growth that would end in an out-of-memory kill on a longer run).

    .venv/bin/python bench/soak.py                       # 60 s, 8 clients
    .venv/bin/python bench/soak.py --seconds 600 --concurrency 16
    .venv/bin/python bench/soak.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.fernet import Fernet
from local import create_schema, drop_schema, free_port
from webhook_ack import percentile, prepare

from service.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from testkit.service_dumps import stream_dump

ROOT = Path(__file__).resolve().parent.parent
VSM = ROOT / ".venv" / "bin" / "vsm"
MIX = (("read", 70), ("import", 10), ("trigger", 10), ("anchor", 10))
BOARDS = 20


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    job_ids: list[int] = field(default_factory=list)

    def add(self, kind: str, started: float, status: str) -> None:
        self.latencies.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1

    def errors(self) -> int:
        return sum(
            n
            for counts in self.statuses.values()
            for status, n in counts.items()
            if status.startswith("5") or status == "failed-connection"
        )

    def requests(self) -> int:
        return sum(sum(counts.values()) for counts in self.statuses.values())


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KiB (Linux /proc)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            total += sum(rss_kb(int(child)) for child in children)
    except FileNotFoundError:
        pass
    return total


async def client_loop(
    http: httpx.AsyncClient,
    tally: Tally,
    until: float,
    api_key: str,
    board_id: int,
    secret: str,
    rng: random.Random,
    record: bool,
) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    reads = [
        "/v1/boards",
        f"/v1/boards/{board_id}",
        f"/v1/boards/{board_id}/streams",
        f"/v1/boards/{board_id}/report",
        "/v1/imports?limit=20",
    ]
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    while time.perf_counter() < until:
        kind = rng.choices(kinds, weights)[0]
        started = time.perf_counter()
        try:
            if kind == "read":
                response = await http.get(rng.choice(reads), headers=auth)
            elif kind == "anchor":
                response = await http.get("/healthz")
            elif kind == "import":
                dump = stream_dump(
                    12,
                    board_id=f"soak-{rng.randrange(BOARDS)}",
                    step_text=f"Step {{n}} {uuid.uuid4().hex[:6]}",
                )
                response = await http.post("/v1/imports", json=dump, headers=auth)
                if response.status_code == 202 and record:
                    tally.job_ids.append(response.json()["id"])
            else:
                delivery = str(uuid.uuid4())
                body = json.dumps({"delivery_id": delivery, "source": "soak"}).encode()
                response = await http.post(
                    f"/v1/hooks/boards/{board_id}",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
                        DELIVERY_HEADER: delivery,
                    },
                )
            status = str(response.status_code)
        except httpx.HTTPError:
            status = "failed-connection"
        if record:
            tally.add(kind, started, status)


async def run_mix(
    base: str,
    seconds: float,
    concurrency: int,
    api_key: str,
    board_id: int,
    secret: str,
    *,
    record: bool,
) -> Tally:
    tally = Tally()
    until = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as http:
        await asyncio.gather(
            *(
                client_loop(http, tally, until, api_key, board_id, secret, random.Random(n), record)
                for n in range(concurrency)
            )
        )
    return tally


def wait_for_jobs(base: str, api_key: str, job_ids: list[int], timeout: float) -> dict[str, int]:
    """Final statuses of ``job_ids`` once none is queued or running (or the timeout passed)."""
    auth = {"Authorization": f"Bearer {api_key}"}
    deadline = time.monotonic() + timeout
    pending = set(job_ids)
    outcome: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=30.0) as http:
        while pending and time.monotonic() < deadline:
            for job_id in sorted(pending):
                status = http.get(f"/v1/imports/{job_id}", headers=auth).json()["status"]
                if status not in ("queued", "running"):
                    pending.discard(job_id)
                    outcome[status] = outcome.get(status, 0) + 1
            if pending:
                time.sleep(0.5)
    if pending:
        outcome["not finished"] = len(pending)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured mix")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured mix first")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on a fresh schema of this PostgreSQL database instead of a SQLite file",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="vsm-soak-"))
    database_url = f"sqlite:///{workdir / 'valuestream.db'}"
    schema = None
    if args.postgres:
        schema, database_url = create_schema(args.postgres)
    env = {
        "VSM_DATABASE_URL": database_url,
        "VSM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "VSM_LOG_LEVEL": "WARNING",
        "VSM_LOG_FORMAT": "json",
        "VSM_RATE_LIMIT": "1000000/minute",  # one key makes every request here
        "VSM_MAX_ACTIVE_IMPORTS": "1000",
    }
    api_key, board_id, secret = prepare(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(VSM), "serve", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90  # a shared, loaded machine starts slowly
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("vsm serve did not start")
            time.sleep(0.1)
        asyncio.run(
            run_mix(base, args.warmup, args.concurrency, api_key, board_id, secret, record=False)
        )
        rss_start = rss_kb(server.pid)
        tally = asyncio.run(
            run_mix(base, args.seconds, args.concurrency, api_key, board_id, secret, record=True)
        )
        jobs = wait_for_jobs(base, api_key, tally.job_ids, timeout=max(120.0, args.seconds))
        rss_end = rss_kb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        if schema is not None:
            drop_schema(args.postgres, schema)

    failed_jobs = jobs.get("failed", 0) + jobs.get("not finished", 0)
    errors = tally.errors() + failed_jobs
    total = tally.requests()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"soak: {args.seconds:g} s, {args.concurrency} clients, vsm serve (1 process, {backend}, "
        f"embedded worker), load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  requests {total} ({total / args.seconds:.0f}/s); answers by kind:")
    for kind, _ in MIX:
        lat = tally.latencies.get(kind, [0.0])
        print(
            f"    {kind:8} p50 {percentile(lat, 0.5):7.1f} ms  p99 {percentile(lat, 0.99):7.1f} ms"
            f"  {dict(sorted(tally.statuses.get(kind, {}).items()))}"
        )
    print(f"  import jobs: {dict(sorted(jobs.items()))}")
    rate = errors / max(total, 1)
    print(f"  error rate {rate:.4%} ({errors} errors)   target: 0")
    anchor_p99 = percentile(tally.latencies.get("anchor", [0.0]), 0.99)
    reads_p99 = percentile(tally.latencies.get("read", [0.0]), 0.99)
    print(
        f"  p99 reads {reads_p99:.1f} ms = {reads_p99 / max(anchor_p99, 0.001):.1f} x the /healthz "
        f"p99 of {anchor_p99:.1f} ms   target: <= 10 x"
    )
    print(
        f"  RSS start {rss_start / 1024:.0f} MB, end {rss_end / 1024:.0f} MB = "
        f"{rss_end / max(rss_start, 1):.2f} x start   target: <= 1.25 x"
    )


if __name__ == "__main__":
    main()
