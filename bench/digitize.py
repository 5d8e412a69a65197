"""Benchmark: normalize and digitize generated Miro boards of 10,000 and 100,000 stickies.

Each board has 20 frames (alternating "Ist-Zustand" / "Soll-Zustand"), four lane labels per
frame, and per step a data sticky under it, a problem sticky above it with two vote dots, and an
idea sticky; connectors chain the steps of a frame, with a skip edge every tenth step. The dump
is written to a temporary file first; every run is a fresh Python process, so one run's heap
cannot flatter or spoil the next.

Per size, ``--repeat`` runs (5 by default) time reading and normalizing the file
(``read_dump_file``: read, parse, normalize) and classifying and building the streams
(``digitize``); the figures are the fastest run's, by CPU time, with the slowest run's total
beside them. The fastest run is the code's cost: whatever else the machine does only adds to a
run (the reasoning of ``timeit``), and on a shared virtual machine that noise is large. One more
run times digitize's stages one by one, reads the peak RSS of the fresh process after normalize
+ digitize (``VmHWM``; nothing else has run in it) and the tracemalloc peak of the same work.
Then the growth ratio t(100k)/t(10k) next to 10·log(100k)/log(10k), the ratio an n log n cost
would give, with a verdict. A fixed pure-Python loop is timed before and after, to show how fast
the machine was meanwhile.

    .venv/bin/python bench/digitize.py            # both sizes
    .venv/bin/python bench/digitize.py 10000      # one size
    .venv/bin/python bench/digitize.py --repeat 5
    .venv/bin/python bench/digitize.py --instructions   # callgrind: instructions, not seconds
    .venv/bin/python bench/digitize.py 10000 --instructions --stages --anchor ../anchor2d9
        # instructions per stage, beside an older commit's worktree on the same file
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


FRAMES = 20
PER_ROW = 25  # steps per row inside a frame
STEP_DX, ROW_DY = 300.0, 1000.0
STICKIES_PER_STEP = 4  # step, data, problem, idea
DOTS_PER_PROBLEM = 2
LANES = ("Kundin", "Vertrieb", "IT", "Service")
TARGETS = {10_000: 0.5, 100_000: 6.0}  # seconds for normalize + digitize
MEMORY_TARGET_MB = 500.0

Json = dict[str, Any]


def _position(x: float, y: float) -> Json:
    return {"x": x, "y": y, "origin": "center", "relativeTo": "parent_top_left"}


def _item(item_id: int, type_: str, x: float, y: float, w: float, h: float, parent: int) -> Json:
    return {
        "id": str(item_id),
        "type": type_,
        "position": _position(x, y),
        "geometry": {"width": w, "height": h},
        "parent": {"id": str(parent)},
        "createdAt": "2026-11-12T09:00:00Z",
        "createdBy": {"id": "3458764599214370001", "type": "user"},
        "modifiedAt": "2026-11-12T09:30:00Z",
        "modifiedBy": {"id": "3458764599214370001", "type": "user"},
    }


def _sticky(item_id: int, text: str, x: float, y: float, color: str, parent: int) -> Json:
    item = _item(item_id, "sticky_note", x, y, 199.0, 228.0, parent)
    item["data"] = {"content": text, "shape": "square"}
    item["style"] = {"fillColor": color, "textAlign": "center", "textAlignVertical": "top"}
    return item


def generate(stickies: int) -> Json:
    """A Miro dump with ``stickies`` sticky notes (rounded down to whole steps per frame)."""
    steps_per_frame = stickies // (FRAMES * STICKIES_PER_STEP)
    rows = math.ceil(steps_per_frame / PER_ROW)
    frame_w = 400.0 + PER_ROW * STEP_DX
    frame_h = 200.0 + rows * ROW_DY
    items: list[Json] = []
    connectors: list[Json] = []
    next_id = 3458764612904331000

    def new_id() -> int:
        nonlocal next_id
        next_id += 1
        return next_id

    for f in range(FRAMES):
        frame_id = new_id()
        title = f"{'Ist-Zustand' if f % 2 == 0 else 'Soll-Zustand'}: Team {f // 2 + 1}"
        items.append(
            {
                "id": str(frame_id),
                "type": "frame",
                "data": {"title": title, "format": "custom", "type": "freeform"},
                "style": {"fillColor": "#ffffffff"},
                "position": {
                    "x": (f % 4) * (frame_w + 500.0),
                    "y": (f // 4) * (frame_h + 500.0),
                    "origin": "center",
                    "relativeTo": "canvas_center",
                },
                "geometry": {"width": frame_w, "height": frame_h},
            }
        )
        for lane_index, lane in enumerate(LANES):
            label = _item(new_id(), "text", 100.0, 0.0, 160.0, 50.0, frame_id)
            label["position"] = _position(100.0, (lane_index + 0.5) * frame_h / len(LANES))
            label["data"] = {"content": f"<p>{lane}</p>"}
            label["style"] = {"fontSize": "24", "textAlign": "left"}
            items.append(label)
        previous: list[int] = []
        for s in range(steps_per_frame):
            x = 400.0 + (s % PER_ROW) * STEP_DX
            y = 450.0 + (s // PER_ROW) * ROW_DY
            step = new_id()
            items.append(_sticky(step, f"<p>Schritt {f}.{s}</p>", x, y, "yellow", frame_id))
            items.append(
                _sticky(
                    new_id(),
                    f"<p>BZ: {5 + s % 40} min</p><p>DLZ: {1 + s % 3} T</p><p>%C&amp;A: 90</p>",
                    x,
                    y + 250.0,
                    "light_blue",
                    frame_id,
                )
            )
            problem_y = y - 250.0
            items.append(
                _sticky(new_id(), f"<p>Problem {f}.{s}</p>", x, problem_y, "red", frame_id)
            )
            for d in range(DOTS_PER_PROBLEM):
                dot = _item(
                    new_id(), "shape", x - 30.0 + 40.0 * d, problem_y + 70.0, 28.0, 28.0, frame_id
                )
                dot["data"] = {"content": "", "shape": "circle"}
                dot["style"] = {"fillColor": "#4262ff", "fillOpacity": "1.0"}
                items.append(dot)
            items.append(
                _sticky(
                    new_id(),
                    f"<p>Idee {f}.{s}</p>",
                    x + 100.0,
                    problem_y - 120.0,
                    "green",
                    frame_id,
                )
            )
            if previous:
                connectors.append(_connector(new_id(), previous[-1], step))
            if len(previous) >= 2 and s % 10 == 0:
                connectors.append(_connector(new_id(), previous[-2], step))
            previous = [*previous[-1:], step]
    return {
        "provider": "miro",
        "board": {"id": "uXjVBench000=", "type": "board", "name": f"Bench {stickies}"},
        "items": items,
        "connectors": connectors,
        "tags": [],
        "item_tags": {},
    }


def _connector(connector_id: int, start: int, end: int) -> Json:
    return {
        "id": str(connector_id),
        "type": "connector",
        "shape": "elbowed",
        "isSupported": True,
        "startItem": {"id": str(start), "position": {"x": "100%", "y": "50%"}},
        "endItem": {"id": str(end), "position": {"x": "0%", "y": "50%"}},
        "style": {"endStrokeCap": "stealth", "strokeWidth": "2.0"},
    }


def _rss_mb() -> float:
    """Peak resident set size of this process so far.

    ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` would not do: Linux
    carries it across fork and exec, so the child would report the parent's peak (the parent
    holds the generated board).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, list[float]]:
    """``fn(*args)`` and its cost as [wall-clock seconds, CPU seconds of this process]."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, [time.perf_counter() - wall, time.process_time() - cpu]


def timed_run(path: Path) -> Json:
    """Run in a child process: time ``read_dump_file`` and ``digitize`` on one dump file."""
    from connectors.dump import read_dump_file
    from service.domain.digitize import digitize

    board, normalize = _timed(read_dump_file, path)
    _, digitized = _timed(digitize, board)
    return {"normalize": normalize, "digitize": digitized}


def counted_run(path: Path | None) -> None:
    """Run in a child process under callgrind: the imports, then (with a path) the work."""
    from connectors.dump import read_dump_file
    from service.domain.digitize import digitize

    if path is not None:
        digitize(read_dump_file(path))


def _instructions(path: Path | None) -> int:
    """Instructions callgrind counts for ``counted_run`` (the whole process)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--count", str(path or "")]
    completed = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    found = re.search(r"Collected\s*:\s*(\d+)", completed.stderr)
    if found is None:
        raise RuntimeError("callgrind printed no instruction count")
    return int(found.group(1))


def count_instructions(sizes: list[int], workdir: Path) -> None:
    """Print the instructions read + normalize + digitize take per size, and their growth.

    Instruction counts do not depend on what else the machine does or on its caches, so their
    growth is the cost's growth alone; CPU time also grows with cache misses once the board no
    longer fits in the caches. Under callgrind Python runs about fifty times slower.
    """
    baseline = _instructions(None)
    counts: dict[int, int] = {}
    for stickies in sizes:
        path = workdir / f"bench-{stickies}.json"
        path.write_text(json.dumps(generate(stickies)), encoding="utf-8")
        print(f"counting {stickies:,} stickies under callgrind ...", flush=True)
        counts[stickies] = _instructions(path) - baseline
    print()
    for stickies, count in counts.items():
        print(f"{stickies:>9,} stickies: {count / 1e6:10,.0f} M instructions")
    if len(counts) > 1:
        small, large = min(counts), max(counts)
        nlogn = large / small * math.log(large) / math.log(small)
        growth = counts[large] / counts[small]
        print(
            f"instructions grew x{growth:.1f} for x{large / small:g} the stickies (n log n: "
            f"x{nlogn:.1f}): no worse than n log n: {_verdict(growth <= nlogn)}"
        )


STAGES = ("read", "classify", "build_streams", "compare_board", "to_contract")


def staged_run(path: Path) -> None:
    """Run in a child process under callgrind with ``--dump-before=getppid``: the stages one
    by one with ``os.getppid()`` between them, so callgrind writes one count per stage."""
    from connectors.dump import read_dump_file
    from service.domain.classify import classify
    from service.domain.compare import compare_board
    from service.domain.contract import to_contract
    from service.domain.ruleset import Ruleset
    from service.domain.streams import build_streams

    os.getppid()  # the start-up and the imports end here
    board = read_dump_file(path)
    os.getppid()
    rules = Ruleset()
    classification = classify(board, rules)
    os.getppid()
    streams = build_streams(board, classification, rules)
    os.getppid()
    comparison = compare_board(streams, rules)
    os.getppid()
    to_contract(board, classification, streams, comparison)
    os.getppid()


def _stage_counts(path: Path, tree: Path) -> list[int]:
    """Instructions per stage of ``staged_run`` with the code of ``tree`` (on PYTHONPATH)."""
    with tempfile.TemporaryDirectory(prefix="vsm-stages-") as out:
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--dump-before=getppid",
                f"--callgrind-out-file={out}/cg.%p",
                sys.executable,
                str(Path(__file__).resolve()),
                "--staged",
                str(path),
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(tree)},
        )
        # cg.<pid>.<n>: the counts up to the n-th getppid call; cg.<pid>: the rest (exit)
        parts = sorted(Path(out).glob("cg.*.*"), key=lambda part: int(part.suffix[1:]))
        counts = []
        for part in parts[1 : 1 + len(STAGES)]:
            found = re.search(r"^(?:summary|totals):\s*(\d+)", part.read_text(), re.MULTILINE)
            if found is None:
                raise RuntimeError(f"callgrind wrote no count in {part.name}")
            counts.append(int(found.group(1)))
    return counts


def count_stages(stickies: int, workdir: Path, anchor: Path | None) -> None:
    """Print the instructions of each stage, beside those of ``anchor`` (a worktree of an
    older commit) measured on the same file in the same run."""
    path = workdir / f"bench-{stickies}.json"
    path.write_text(json.dumps(generate(stickies)), encoding="utf-8")
    print(f"counting the stages of {stickies:,} stickies under callgrind ...", flush=True)
    ours = _stage_counts(path, ROOT)
    theirs = _stage_counts(path, anchor) if anchor is not None else None
    print(
        f"\n{'M instructions':<16}{'this tree':>12}"
        + (f"{'anchor':>12}{'ratio':>8}" if theirs else "")
    )
    rows = [*zip(STAGES, ours, theirs or ours, strict=True)]
    rows.append(("total", sum(ours), sum(theirs or ours)))
    for name, count, anchor_count in rows:
        line = f"{name:<16}{count / 1e6:>12,.0f}"
        if theirs:
            line += f"{anchor_count / 1e6:>12,.0f}{count / anchor_count:>8.2f}"
        print(line)


def detail_run(path: Path) -> Json:
    """Run in a child process: digitize's stages one by one, the counts and the memory.

    Pass 1 reads the peak RSS after ``read_dump_file`` and ``digitize``; pass 2 times
    digitize's stages one by one (to show where the time goes); pass 3 runs under tracemalloc,
    which slows Python down, so it is not timed.
    """
    from connectors.dump import read_dump_file
    from service.domain.board import ItemKind
    from service.domain.classify import classify
    from service.domain.compare import compare_board
    from service.domain.contract import to_contract
    from service.domain.digitize import digitize
    from service.domain.ruleset import Ruleset
    from service.domain.streams import build_streams

    rss_start_mb = _rss_mb()
    board = read_dump_file(path)
    rss_parsed_mb = _rss_mb()
    doc = digitize(board)
    peak_rss_mb = _rss_mb()
    steps = sum(len(stream["steps"]) for stream in doc["streams"])
    streams = len(doc["streams"])
    del doc
    gc.collect()

    rules = Ruleset()
    stages: dict[str, list[float]] = {}
    classification, stages["classify"] = _timed(classify, board, rules)
    built, stages["build_streams"] = _timed(build_streams, board, classification, rules)
    comparison, stages["compare_board"] = _timed(compare_board, built, rules)
    _, stages["to_contract"] = _timed(to_contract, board, classification, built, comparison)

    counts = {
        "stickies": sum(1 for item in board.items if item.kind is ItemKind.STICKY),
        "items": len(board.items),
        "connectors": len(board.connectors),
    }
    del board, classification, built, comparison
    gc.collect()
    tracemalloc.start()
    digitize(read_dump_file(path))
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        **counts,
        "streams": streams,
        "steps": steps,
        "stages": stages,
        "rss_start_mb": rss_start_mb,
        "rss_parsed_mb": rss_parsed_mb,
        "peak_rss_mb": peak_rss_mb,
        "traced_peak_mb": traced_peak / 2**20,
    }


def _child(mode: str, path: Path) -> Json:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), f"--{mode}", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: Json = json.loads(completed.stdout)
    return result


def _cpu_total(run: Json) -> float:
    return float(run["normalize"][1] + run["digitize"][1])


def _run_size(stickies: int, workdir: Path, repeat: int) -> Json:
    path = workdir / f"bench-{stickies}.json"
    path.write_text(json.dumps(generate(stickies)), encoding="utf-8")
    size_mb = path.stat().st_size / 2**20
    runs = sorted((_child("timed", path) for _ in range(repeat)), key=_cpu_total)
    result = _child("detail", path)
    result["times"] = {**runs[0], **result.pop("stages")}
    result["slowest_cpu"] = _cpu_total(runs[-1])
    result["file_mb"] = size_mb
    return result


def reference_seconds() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this machine runs Python right now."""
    started = time.process_time()
    total = 0
    for value in range(3_000_000):
        total += value % 7
    return time.process_time() - started


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _report(results: dict[int, Json]) -> None:
    sizes = sorted(results)
    width = 17

    def row(label: str, values: list[str], note: str = "") -> None:
        cells = "".join(v.rjust(width) for v in values)
        print(f"{label:<24}{cells}  {note}".rstrip())

    def timing(label: str, picked: list[list[float]], note: str = "") -> None:
        cells = [f"{wall:.3f} ({cpu:.3f})" for wall, cpu in picked]
        if len(sizes) > 1 and picked[0][1] > 0:
            cells.append(f"x{picked[-1][1] / picked[0][1]:.1f}")
        row(label, cells, note)

    def times(key: str) -> list[list[float]]:
        return [results[n]["times"][key] for n in sizes]

    print()
    row("", [f"{n:,} stickies" for n in sizes] + (["growth (cpu)"] if len(sizes) > 1 else []))
    row("items (+dots, labels)", [f"{results[n]['items']:,}" for n in sizes])
    row("connectors", [f"{results[n]['connectors']:,}" for n in sizes])
    row("JSON file", [f"{results[n]['file_mb']:.1f} MB" for n in sizes])
    row("streams / steps", [f"{results[n]['streams']} / {results[n]['steps']:,}" for n in sizes])
    print(f"\nseconds: wall (cpu), the fastest of {results[sizes[0]]['repeat']} runs by cpu")
    timing("normalize", times("normalize"), "read_dump_file: read, parse, normalize")
    timing("digitize", times("digitize"), "classify + streams + compare + contract")
    for stage in ("classify", "build_streams", "compare_board", "to_contract"):
        timing(f"  {stage}", times(stage), "second pass, stage by stage")
    totals = [
        [a + b for a, b in zip(norm, dig, strict=True)]
        for norm, dig in zip(times("normalize"), times("digitize"), strict=True)
    ]
    verdicts = [
        f"{n:,} < {TARGETS[n]} s: {_verdict(total[1] < TARGETS[n])}"
        for n, total in zip(sizes, totals, strict=True)
        if n in TARGETS
    ]
    timing("normalize + digitize", totals, "; ".join(verdicts))
    repeat = results[sizes[0]]["repeat"]
    row(
        f"  slowest of {repeat} (cpu)",
        [f"{results[n]['slowest_cpu']:.3f}" for n in sizes],
        "the same work in the slowest run: the machine's noise",
    )
    print("\nmemory")
    row("RSS before reading", [f"{results[n]['rss_start_mb']:.0f} MB" for n in sizes])
    row("RSS after normalize", [f"{results[n]['rss_parsed_mb']:.0f} MB" for n in sizes])
    peaks = [results[n]["peak_rss_mb"] for n in sizes]
    row(
        "peak RSS",
        [f"{p:.0f} MB" for p in peaks],
        f"whole process; < {MEMORY_TARGET_MB:.0f} MB: "
        + ", ".join(_verdict(p < MEMORY_TARGET_MB) for p in peaks),
    )
    row(
        "tracemalloc peak",
        [f"{results[n]['traced_peak_mb']:.0f} MB" for n in sizes],
        "allocated by read_dump_file + digitize",
    )
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        n = large / small
        nlogn = n * math.log(large) / math.log(small)
        print(
            f"\ngrowth reference for {large:,}/{small:,} stickies: linear x{n:.1f}, "
            f"n log n x{nlogn:.1f} (= {n:g}·log({large})/log({small}))"
        )
        growth = totals[-1][1] / totals[0][1] if totals[0][1] > 0 else math.inf
        print(
            f"normalize + digitize grew x{growth:.1f} (cpu): no worse than n log n: "
            f"{_verdict(growth <= nlogn)}"
        )
    print(
        "verdicts use CPU seconds: the targets are for one core, and CPU time leaves out the "
        "time other processes held it"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=sorted(TARGETS))
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per size (default 5)")
    parser.add_argument("--timed", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--detail", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--count", help=argparse.SUPPRESS)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions with valgrind's callgrind instead of timing (~10 min)",
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="with --instructions: count each stage of the first size instead (~3 min)",
    )
    parser.add_argument(
        "--anchor",
        type=Path,
        help="with --stages: a worktree of an older commit, counted beside (same file, same run)",
    )
    parser.add_argument("--staged", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timed or args.detail or args.count is not None or args.staged:
        try:
            from service.gc_tuning import tune_gc
        except ImportError:  # an anchor from before the entry points set the thresholds
            pass
        else:
            tune_gc()  # as the `vsm` entry point does before any work
    if args.staged is not None:
        staged_run(args.staged)
        return 0
    if args.timed is not None:
        print(json.dumps(timed_run(args.timed)))
        return 0
    if args.detail is not None:
        print(json.dumps(detail_run(args.detail)))
        return 0
    if args.count is not None:
        counted_run(Path(args.count) if args.count else None)
        return 0
    if args.instructions:
        if shutil.which("valgrind") is None:
            print(
                "digitize.py: --instructions needs valgrind (Debian package valgrind)",
                file=sys.stderr,
            )
            return 2
        with tempfile.TemporaryDirectory(prefix="vsm-bench-") as tmp:
            if args.stages:
                anchor = args.anchor.resolve() if args.anchor is not None else None
                count_stages(args.sizes[0], Path(tmp), anchor)
            else:
                count_instructions(args.sizes, Path(tmp))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, a fresh process per run; "
        f"each size: {args.repeat} timed runs, then one by stage and for memory"
    )
    before = reference_seconds()
    results: dict[int, Json] = {}
    with tempfile.TemporaryDirectory(prefix="vsm-bench-") as tmp:
        for stickies in args.sizes:
            print(f"running {stickies:,} stickies ...", flush=True)
            results[stickies] = _run_size(stickies, Path(tmp), args.repeat)
            results[stickies]["repeat"] = args.repeat
    after = reference_seconds()
    _report(results)
    print(
        f"machine speed: a fixed Python loop took {before:.3f} s cpu before and {after:.3f} s "
        "after (the lower, the faster the machine ran)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
