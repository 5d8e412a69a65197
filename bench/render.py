"""Render time of the SVG map and the HTML report for a 500-step board, and the page size.

Run: ``.venv/bin/python bench/render.py [--steps 500] [--repeat 7]``. The board has 4 lanes,
a parallel pair every fifth column, one NVA step in seven, German text with umlauts and emoji,
and one problem per four steps. Prints the median and best of ``--repeat`` runs; each run
decodes the contract dict first (``decode_contract``), as the API and the CLI do.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from service.domain.contract_model import decode_contract, decode_stream
from service.domain.render.html import render_report_html
from service.domain.render.svg import render_stream_svg

LANES = ["Kunde", "Vertrieb", "Backoffice", "IT-Betrieb"]


def board(steps: int) -> dict[str, Any]:
    step_list: list[dict[str, Any]] = []
    order = 0
    for i in range(steps):
        if i % 5 != 1 or i == 0:
            order += 1
        step_list.append(
            {
                "id": f"st{i}",
                "order": order,
                "title": f"Schritt {i}: Prüfung der Unterlagen und Rückfrage beim Kunden 📄",
                "lane": LANES[i % len(LANES)],
                "value_adding": i % 7 != 3,
                "process_time_min": 5 + i % 40 if i % 9 else None,
                "lead_time_min": 60 + (i * 37) % 900,
                "wait_time_min": None,
                "complete_accurate_pct": 70 + i % 30 if i % 3 == 0 else None,
                "source_item_ids": [f"item{i}"],
                "problem_ids": [],
            }
        )
    problems: list[dict[str, Any]] = [
        {
            "id": f"p{j}",
            "text": f"Medienbruch Nr. {j}: Daten werden doppelt erfasst, Rückfragen dauern Tage",
            "step_id": f"st{j * 4}",
            "weight": (steps // 4 - j) % 9,
            "source_item_ids": [f"pi{j}"],
        }
        for j in range(steps // 4)
    ]
    problems.sort(key=lambda p: -p["weight"])
    for p in problems:
        step_list[int(p["step_id"][2:])]["problem_ids"].append(p["id"])
    stream: dict[str, Any] = {
        "id": "bench",
        "name": "Ist-Zustand (Benchmark)",
        "state": "current",
        "frame_id": "f1",
        "persona": "Neukundin",
        "lanes": LANES,
        "steps": step_list,
        "problems": problems,
        "ideas": [],
        "metrics": {
            "step_count": steps,
            "value_adding_steps": steps - steps // 7,
            "non_value_adding_steps": steps // 7,
            "total_process_time_min": 9000,
            "total_lead_time_min": 190000,
            "activity_ratio": 9000 / 190000,
            "rolled_complete_accurate": 0.12,
            "handoffs": steps - 1,
            "problem_count": len(problems),
            "problem_weight": sum(p["weight"] for p in problems),
        },
    }
    return {
        "schema_version": 1,
        "board": {"provider": "miro", "id": "bench", "name": "Benchmark board"},
        "streams": [stream],
        "comparison": None,
        "unclassified": [],
        "decisions": [],
    }


def timed(repeat: int, work: Any) -> tuple[float, float, str]:
    runs = []
    out = ""
    for _ in range(repeat):
        start = time.perf_counter()
        out = work()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), min(runs), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    doc = board(args.steps)
    stream = doc["streams"][0]

    svg_median, svg_best, svg = timed(args.repeat, lambda: render_stream_svg(decode_stream(stream)))
    page_median, page_best, page = timed(
        args.repeat, lambda: render_report_html(decode_contract(doc))
    )
    print(f"board: {args.steps} steps, {len(stream['problems'])} problems, 4 lanes")
    print(
        f"SVG map:     median {svg_median * 1000:7.1f} ms  best {svg_best * 1000:7.1f} ms  "
        f"{len(svg.encode()):>9,} bytes"
    )
    print(
        f"HTML report: median {page_median * 1000:7.1f} ms  best {page_best * 1000:7.1f} ms  "
        f"{len(page.encode()):>9,} bytes"
    )


if __name__ == "__main__":
    main()
