"""Benchmark: peak memory of a worker running one big import job (issue 16, "Workers": a
100,000-sticky import peaks under 500 MB).

The board is the one ``bench/digitize.py`` generates, written by a child process so this one
stays small. Another child migrates a fresh database (SQLite in a temporary folder, or
``--database-url``) and submits the board as an upload, as the API does; a fresh process then
runs the worker's job path, ``run_import_job``, and reports its own peak resident set
(``VmHWM``) and what it still holds when the job is done (``VmRSS``: a Celery pool process above
``worker_max_memory_per_child`` is replaced after such a task). The anchor is the peak of
``json.load`` of the same file in another fresh process (Python's own reader holding the whole
board as dicts).

    .venv/bin/python bench/worker_memory.py                   # 100,000 stickies
    .venv/bin/python bench/worker_memory.py --stickies 200000
    .venv/bin/python bench/worker_memory.py --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from local import PROC_STATUS, write_board

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 500.0

_SUBMIT = (
    "import sys\n"
    "from pathlib import Path\n"
    "from service.db.engine import create_db_engine, create_session_factory\n"
    "from service.db.migrate import upgrade_database\n"
    "from service.db.tables import Workspace\n"
    "from service.settings import Settings\n"
    "from service.usecases.imports import submit_import\n"
    "from service.usecases.uploads import UploadFolder\n"
    "engine = create_db_engine(sys.argv[1])\n"
    "uploads = UploadFolder(Settings(database_url=sys.argv[1]).upload_path)\n"
    "upgrade_database(engine)\n"
    "with create_session_factory(engine)() as session:\n"
    "    workspace = Workspace(name='bench')\n"
    "    session.add(workspace)\n"
    "    session.flush()\n"
    "    raw = Path(sys.argv[2]).read_bytes()\n"
    "    job, _ = submit_import(session, uploads, workspace.id, raw)\n"
    "    session.commit()\n"
    "    print(job.id)\n"
)
_ANCHOR = PROC_STATUS + "import json\njson.load(open(sys.argv[1], encoding='utf-8'))\n"
_ANCHOR += "print(status('VmHWM'), status('VmRSS'))\n"
_JOB = (
    PROC_STATUS + "from service.db.engine import create_db_engine, create_session_factory\n"
    "from service.settings import Settings\n"
    "from service.usecases.imports import run_import_job\n"
    "from service.usecases.uploads import UploadFolder\n"
    "engine = create_db_engine(sys.argv[1])\n"
    "uploads = UploadFolder(Settings(database_url=sys.argv[1]).upload_path)\n"
    "with create_session_factory(engine)() as session:\n"
    "    job = run_import_job(session, uploads, int(sys.argv[2]))\n"
    "    ok = job is not None and job.status == 'succeeded'\n"
    "print(status('VmHWM') if ok else -1, status('VmRSS'))\n"
)


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return done.stdout.strip().splitlines()[-1]


def _peaks(script: str, *args: str) -> tuple[float, float]:
    peak, kept = _run(script, *args).split()
    return float(peak), float(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stickies", type=int, default=100_000)
    parser.add_argument(
        "--database-url", help="a migrated-on-the-fly database (default: SQLite in a temp folder)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vsm-bench-") as tmp:
        board = Path(tmp) / "board.json"
        url = args.database_url or f"sqlite:///{Path(tmp) / 'valuestream.db'}"
        write_board(board, args.stickies)
        size_mb = board.stat().st_size / 2**20
        job_id = _run(_SUBMIT, url, str(board))
        anchor, _ = _peaks(_ANCHOR, str(board))
        figure, kept = _peaks(_JOB, url, job_id)
    verdict = "ok" if 0 < figure < TARGET_MB else "MISSED"
    backend = url.split(":", 1)[0].split("+", 1)[0]
    print(f"{args.stickies:,} stickies, a {size_mb:.0f} MB upload on {backend}; peak RSS")
    print(f"anchor: json.load of the file        {anchor:7.0f} MB")
    target = f"target < {TARGET_MB:.0f} MB: {verdict}"
    print(f"worker: run_import_job of the upload {figure:7.0f} MB  {target}")
    print(f"        still resident when done     {kept:7.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
