"""Run every bench in turn with short settings (about 10 minutes) and print their figures.

Each bench prints its own figures next to its anchor and target (see bench/README.md); this
script runs them one after another in fresh processes, prints the load average before each
(the machine may be shared: read ratios, not absolute times), and ends with every printed line
that names a target, by bench, then one line per bench saying whether it ran. A bench whose
tools or services are missing (wrk, Redis, PostgreSQL, ``miro_api``) reports that and the next
one runs.

    .venv/bin/python bench/run_all.py
    .venv/bin/python bench/run_all.py api_read webhook_ack      # only these
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (name, arguments): the short settings; each bench's --help has the long ones.
BENCHES: list[tuple[str, list[str]]] = [
    ("api_read", ["--duration", "2"]),
    ("webhook_ack", ["--seconds", "10", "--burst", "500"]),
    ("digitize", ["10000", "100000", "--repeat", "3"]),
    ("render", ["--repeat", "3"]),
    ("cli_import", ["--repeat", "3"]),
    ("memory", []),
    ("worker_memory", []),
    ("miro_import", []),
    ("mural_import", []),
    ("import_queue", ["--dumps", "60"]),
    ("soak", ["--seconds", "30"]),
    ("upload", ["--repeat", "2"]),
]


def run(name: str, extra: list[str]) -> tuple[int, list[str]]:
    """Run one bench, echoing its output; its exit code and the lines that name a target."""
    process = subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "bench" / f"{name}.py"), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    targets = []
    for line in process.stdout:
        print(line, end="", flush=True)
        if "target" in line.lower():
            targets.append(line.strip())
    return process.wait(), targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("only", nargs="*", help="bench names (default: all)")
    args = parser.parse_args()
    chosen = [(name, extra) for name, extra in BENCHES if not args.only or name in args.only]
    summary = []
    figures: list[tuple[str, list[str]]] = []
    for name, extra in chosen:
        load = os.getloadavg()[0]
        print(f"\n=== bench/{name}.py {' '.join(extra)} (load average {load:.1f})", flush=True)
        started = time.monotonic()
        code, targets = run(name, extra)
        seconds = time.monotonic() - started
        summary.append((name, code, seconds, load))
        figures.append((name, targets))
    print("\n=== figures against their anchors and targets")
    for name, targets in figures:
        for line in targets or ["(no line names a target)"]:
            print(f"{name}: {line}")
    print("\n| bench | exit | seconds | load before |")
    print("|---|---|---|---|")
    for name, code, seconds, load in summary:
        print(f"| {name} | {code} | {seconds:.0f} | {load:.1f} |")
    return max((code for _, code, _, _ in summary), default=0)


if __name__ == "__main__":
    sys.exit(main())
