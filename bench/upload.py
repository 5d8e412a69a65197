"""Benchmark: ``POST /v1/imports`` of a 100k-sticky dump, time to the 202 and the API's memory.

The API (uvicorn, one process, ``service.api.main:app_from_env``) writes the body to a file in
its upload folder (``VSM_UPLOAD_DIR``, here in the bench's temporary folder, beside the anchors'
files) as it arrives and leaves parsing to a worker; with Redis (``VSM_TEST_REDIS_URL`` or redis://127.0.0.1:6379/15)
it publishes the job to a broker no worker reads, so the API process does nothing but the
upload. Measured in the same run, against anchors:

1. writing the same bytes to a file in the same folder (1 MB writes, then fsync): "writing
   them to disk";
2. ``bench/upload_anchor_app.py``: a minimal FastAPI route streaming the body to a file, same
   uvicorn options, same client: the HTTP stack's share.

Printed: the fastest of ``--repeat`` uploads for ours and each anchor, the ratios (issue 16's
target: the 202 within 2x of writing the bytes to disk), and the API's peak RSS during one
upload above its idle RSS (target: at most 150 MB above idle for a 100 MB upload).

    .venv/bin/python bench/upload.py                      # 100,000 stickies (~90 MB), SQLite
    .venv/bin/python bench/upload.py --stickies 20000 --databases sqlite postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from local import api_command, create_schema, drop_schema, free_port

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 20
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/15"


def write_dump(stickies: int, path: Path) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from digitize import generate

    raw = json.dumps(generate(stickies), separators=(",", ":")).encode()
    path.write_bytes(raw)
    return len(raw)


def disk_write(source: Path, folder: Path) -> float:
    """Seconds to write ``source``'s bytes (already read) to a new file and fsync it."""
    data = source.read_bytes()
    target = folder / "disk-anchor.bin"
    view = memoryview(data)
    started = time.perf_counter()
    with target.open("wb") as handle:
        for start in range(0, len(data), CHUNK):
            handle.write(view[start : start + CHUNK])
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def post(url: str, path: Path, headers: dict[str, str]) -> tuple[float, int]:
    """Send ``path`` as the JSON body of a POST to ``url`` and read the status: a raw socket
    with ``sendfile``, so the client costs next to no CPU on a shared machine."""
    target = httpx.URL(url)
    size = path.stat().st_size
    head = [f"POST {target.raw_path.decode()} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += ["Content-Type: application/json", f"Content-Length: {size}", "Connection: close"]
    started = time.perf_counter()
    with socket.create_connection((target.host, target.port or 80)) as sock, path.open("rb") as f:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.sendfile(f)
        answer = sock.recv(4096)
        seconds = time.perf_counter() - started
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return seconds, status


def sqlite_write(source: Path, folder: Path) -> float:
    """Seconds to insert ``source``'s bytes as 1 MB rows into a SQLite table with plain
    sqlite3 (WAL, synchronous=NORMAL, one transaction per row, as the service's SQLite)."""
    data = memoryview(source.read_bytes())
    path = folder / f"anchor-{time.time_ns()}.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE chunk (seq INTEGER PRIMARY KEY, data BLOB)")
    started = time.perf_counter()
    for seq, start in enumerate(range(0, len(data), CHUNK)):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO chunk VALUES (?, ?)", (seq, data[start : start + CHUNK]))
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return seconds


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak(pid: int) -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS; False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.2)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(20)


def redis_url() -> str | None:
    url = os.environ.get("VSM_TEST_REDIS_URL", REDIS_URL)
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


def prepare(database_url: str) -> str:
    """Migrate the database and create a workspace key (before the server starts)."""
    from service.db.engine import create_db_engine, create_session_factory
    from service.db.migrate import upgrade_database
    from service.usecases.keys import create_api_key

    engine = create_db_engine(database_url)
    upgrade_database(engine)
    with create_session_factory(engine)() as session:
        key = create_api_key(session, "bench").secret
        session.commit()
    engine.dispose()
    return key


def anchor_run(dump: Path, folder: Path, repeat: int) -> float:
    port = free_port()
    command = api_command(port, "--log-level", "warning", "--no-access-log")
    command[command.index("service.api.main:app_from_env")] = "bench.upload_anchor_app:app_from_env"
    server = start(command, {"VSM_BENCH_UPLOAD_DIR": str(folder)}, port)
    try:
        times = []
        for _ in range(repeat):
            seconds, status = post(f"http://127.0.0.1:{port}/v1/imports", dump, {})
            assert status == 202, status
            times.append(seconds)
        return min(times)
    finally:
        stop(server)


def ours_run(
    dump: Path, database_url: str, broker: str | None, repeat: int
) -> tuple[float, float, float, bool]:
    """Fastest upload (s), idle RSS and peak RSS during one upload (MB), peak measured."""
    key = prepare(database_url)
    env = {
        "VSM_DATABASE_URL": database_url,
        "VSM_UPLOAD_DIR": str(dump.parent / "uploads"),
        "VSM_LOG_LEVEL": "WARNING",
        "VSM_LOG_FORMAT": "json",
        "VSM_RATE_LIMIT": "",
        "VSM_MAX_ACTIVE_IMPORTS": "1000",
    }
    if broker is not None:
        env["VSM_BROKER_URL"] = broker
        env["VSM_BROKER_QUEUE"] = f"vsm-bench-upload-{os.getpid()}"  # nobody consumes it
    port = free_port()
    server = start(api_command(port, "--log-level", "warning", "--no-access-log"), env, port)
    url = f"http://127.0.0.1:{port}/v1/imports"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        # one small upload first: threads, pools and imports on the upload path warm up
        small = dump.with_name("small.json")
        small.write_bytes(b'{"provider": "miro", "board": {"id": "warm-up"}, "items": []}')
        assert post(url, small, headers)[1] == 202
        time.sleep(1)
        idle = rss_mb(server.pid, "VmRSS")
        measured = reset_peak(server.pid)
        times = []
        peak = idle
        for _ in range(repeat):
            seconds, status = post(url, dump, headers)
            assert status == 202, status
            times.append(seconds)
            peak = max(peak, rss_mb(server.pid, "VmHWM"))
        return min(times), idle, peak, measured
    finally:
        stop(server)
        if broker is not None:  # the jobs published to a queue nobody reads
            import redis

            redis.Redis.from_url(broker).delete(env["VSM_BROKER_QUEUE"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stickies", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vsm-bench-upload-"))
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the dump and databases: ~250 MB


def run(args: argparse.Namespace, workdir: Path) -> None:
    dump = workdir / "board.json"
    size = write_dump(args.stickies, dump)
    mb = size / 1e6
    broker = redis_url()
    print(f"dump: {args.stickies:,} stickies, {mb:.1f} MB; fastest of {args.repeat} uploads each")
    if broker is None:
        print("  no Redis: the embedded worker parses each upload in the API process after its 202")
    disk = min(disk_write(dump, workdir) for _ in range(args.repeat))
    print(f"  anchor, writing the bytes to a file + fsync:        {disk:6.2f} s")
    anchor = anchor_run(dump, workdir, args.repeat)
    print(f"  anchor, minimal FastAPI route streaming to a file:  {anchor:6.2f} s")
    rows = min(sqlite_write(dump, workdir) for _ in range(args.repeat))
    print(f"  anchor, plain sqlite3 inserts of the 1 MB chunks:   {rows:6.2f} s  (uploads before)")
    for database in args.databases:
        schema = None
        if database == "sqlite":
            database_url = f"sqlite:///{workdir / f'valuestream-{time.time_ns()}.db'}"
        else:
            base = os.environ.get("VSM_TEST_POSTGRES_URL", POSTGRES_URL)
            schema, database_url = create_schema(base)
        try:
            seconds, idle, peak, measured = ours_run(dump, database_url, broker, args.repeat)
        finally:
            if schema is not None:
                drop_schema(os.environ.get("VSM_TEST_POSTGRES_URL", POSTGRES_URL), schema)
        print(
            f"  ours, POST /v1/imports ({database}):{' ' * (21 - len(database))}"
            f"{seconds:6.2f} s = {mb / seconds:.0f} MB/s"
        )
        print(
            f"    202 / disk write = {seconds / disk:.2f}  (target <= 2.00);  "
            f"202 / anchor route = {seconds / anchor:.2f};  "
            f"202 / plain sqlite3 = {seconds / rows:.2f}"
        )
        growth = peak - idle
        note = "" if measured else " (peak not resettable here: since start)"
        print(
            f"    API memory: idle {idle:.0f} MB, peak {peak:.0f} MB during the uploads{note}: "
            f"+{growth:.0f} MB  (target <= 150 MB above idle for 100 MB)"
        )


if __name__ == "__main__":
    main()
