"""Benchmark: peak memory of ``vsm import`` on a big board (issue 16, "Workers": under 500 MB
for 200,000 stickies).

The board is the one ``bench/digitize.py`` generates, written by a child process so this one
stays small. ``vsm import FILE --format json -o OUT`` then runs in a fresh process, which
reports its own peak resident set (``VmHWM``) when the command is done; the anchor is the peak
of ``json.load`` of the same file in another fresh process (Python's own reader holding the
whole board as dicts).

    .venv/bin/python bench/memory.py                 # 200,000 stickies (a 187 MB file)
    .venv/bin/python bench/memory.py --stickies 100000
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

_ANCHOR = (
    PROC_STATUS + "import json\njson.load(open(sys.argv[1], encoding='utf-8'))\n"
    "print(status('VmHWM'))\n"
)
_IMPORT = (
    PROC_STATUS + "from service.cli import main\n"
    "code = main(['import', sys.argv[1], '--format', 'json', '-q', '-o', sys.argv[2]])\n"
    "print(status('VmHWM') if code == 0 else -1)\n"
)


def _peak_mb(script: str, *args: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stickies", type=int, default=200_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vsm-bench-") as tmp:
        board, out = Path(tmp) / "board.json", Path(tmp) / "out.json"
        write_board(board, args.stickies)
        size_mb = board.stat().st_size / 2**20
        anchor = _peak_mb(_ANCHOR, str(board))
        figure = _peak_mb(_IMPORT, str(board), str(out))
    verdict = "ok" if 0 < figure < TARGET_MB else "MISSED"
    print(f"{args.stickies:,} stickies, a {size_mb:.0f} MB file; peak RSS of a fresh process")
    print(f"anchor: json.load of the file   {anchor:7.0f} MB")
    target = f"target < {TARGET_MB:.0f} MB: {verdict}"
    print(f"vsm import --format json        {figure:7.0f} MB  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
