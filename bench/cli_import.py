"""Benchmark: the CPU of ``vsm import`` on a 1,000-sticky board against reading the same file
with the json module (issue 16, "CLI": at most 3x).

The board is the one ``bench/digitize.py`` generates. Each command runs in a fresh process,
interleaved, ``--repeat`` times; the figure is each command's fastest run by CPU time (user +
system of the child, ``resource.getrusage``), since whatever else the machine does only adds.

The project's modules are byte-compiled first (``compileall``), as ``pip install`` does for an
installed package: with ``PYTHONDONTWRITEBYTECODE`` set (as on the shared bench machine) an
editable checkout would otherwise compile every module from source on every run, about 50 ms
that no installed ``vsm`` pays.

    .venv/bin/python bench/cli_import.py
    .venv/bin/python bench/cli_import.py --stickies 1000 --repeat 9
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from digitize import generate  # bench/ is the script's directory

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0


def _cpu(command: list[str]) -> float:
    """CPU seconds (user + system) the command's process took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    quiet = subprocess.DEVNULL
    subprocess.run(command, check=True, cwd=ROOT, stdout=quiet, stderr=quiet)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stickies", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args(argv)
    packages = [str(ROOT / name) for name in ("service", "connectors")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)
    with tempfile.TemporaryDirectory(prefix="vsm-bench-") as tmp:
        board = Path(tmp) / "board.json"
        board.write_text(json.dumps(generate(args.stickies)), encoding="utf-8")
        python = sys.executable
        commands = {
            "anchor: json.load": [
                python,
                "-c",
                f"import json; json.load(open({str(board)!r}, encoding='utf-8'))",
            ],
            "vsm import --format json": [
                *(python, "-m", "service.cli", "import", str(board), "--format", "json"),
                *("-q", "-o", str(Path(tmp) / "out.json")),
            ],
            "vsm import (table)": [
                *(python, "-m", "service.cli", "import", str(board), "-q"),
                *("-o", str(Path(tmp) / "out.txt")),
            ],
        }
        runs: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                runs[name].append(_cpu(command))
    best = {name: min(times) for name, times in runs.items()}
    anchor = best["anchor: json.load"]
    size_kb = len(json.dumps(generate(args.stickies))) / 1024
    print(
        f"{args.stickies:,} stickies ({size_kb:,.0f} KB); CPU seconds, fastest of {args.repeat}"
        " (modules byte-compiled)"
    )
    for name, seconds in best.items():
        ratio = seconds / anchor if anchor > 0 else float("inf")
        verdict = ""
        if name != "anchor: json.load":
            met = "ok" if ratio <= TARGET_RATIO else "MISSED"
            verdict = f"  target <= {TARGET_RATIO:g}x: {met}"
        print(f"{name:<28}{seconds:8.3f} s  x{ratio:5.1f}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
