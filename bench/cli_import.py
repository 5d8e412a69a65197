"""Benchmark: the CPU of ``vsm import`` on a 1,000-sticky board against reading the same file
with the json module (issue 16, "CLI": at most 3x).

The board is the one ``bench/digitize.py`` generates. Each command runs in a fresh process,
interleaved, ``--repeat`` times; the figure is each command's fastest run by CPU time (user +
system of the child, ``resource.getrusage``), since whatever else the machine does only adds.

The project's modules are byte-compiled first (``compileall``), as ``pip install`` does for an
installed package: with ``PYTHONDONTWRITEBYTECODE`` set (as on the shared bench machine) an
editable checkout would otherwise compile every module from source on every run, about 50 ms
that no installed ``vsm`` pays.

With ``--instructions`` each command runs once under valgrind's callgrind and the figure is the
instructions it executed: slower (about four minutes) but the same on a busy machine, where the
CPU time of a run varies by a third. The ratio of instructions is not the ratio of CPU time
(start-up is more instruction-dense than ``json.load``'s C loop); use it to compare changes.

    .venv/bin/python bench/cli_import.py
    .venv/bin/python bench/cli_import.py --stickies 1000 --repeat 9
    .venv/bin/python bench/cli_import.py --instructions
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
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


def _instructions(command: list[str]) -> float:
    """Instructions (millions) the command's process executed, counted by callgrind."""
    completed = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", completed.stderr)
    if found is None:
        raise RuntimeError("callgrind printed no instruction count")
    return int(found.group(1)) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stickies", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions with valgrind's callgrind instead of timing (~4 min)",
    )
    args = parser.parse_args(argv)
    if args.instructions and shutil.which("valgrind") is None:
        print("cli_import.py: --instructions needs valgrind (Debian package valgrind)")
        return 2
    measure, unit = (_instructions, "M instructions") if args.instructions else (_cpu, "s")
    repeat = 1 if args.instructions else args.repeat
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
        for _ in range(repeat):
            for name, command in commands.items():
                runs[name].append(measure(command))
    best = {name: min(times) for name, times in runs.items()}
    anchor = best["anchor: json.load"]
    size_kb = len(json.dumps(generate(args.stickies))) / 1024
    what = "instructions" if args.instructions else f"CPU seconds, fastest of {repeat}"
    print(f"{args.stickies:,} stickies ({size_kb:,.0f} KB); {what} (modules byte-compiled)")
    for name, value in best.items():
        ratio = value / anchor if anchor > 0 else float("inf")
        verdict = ""
        if name != "anchor: json.load" and not args.instructions:  # the target is on CPU time
            met = "ok" if ratio <= TARGET_RATIO else "MISSED"
            verdict = f"  target <= {TARGET_RATIO:g}x: {met}"
        figure = f"{value:8,.0f} {unit}" if args.instructions else f"{value:8.3f} {unit}"
        print(f"{name:<28}{figure}  x{ratio:5.1f}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
