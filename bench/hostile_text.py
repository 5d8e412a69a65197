"""Benchmark: board text parsing on hostile 100k-character inputs, as a ratio to plain text.

The tests (tests/domain/test_text.py, test_times.py) assert only that these inputs give bounded
output and finish; how fast they are is measured here. Each hostile input is timed against an
anchor measured in the same run: plain prose of the same length through the same function. A
ratio near 1 means the hostile shape costs what ordinary text costs; a quadratic regression
shows as a ratio in the hundreds.

    .venv/bin/python bench/hostile_text.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

from service.domain.text import html_to_text
from service.domain.times import count_vote_marks, parse_times, strip_marks

HTML_INPUTS = {
    "<a * 50k": "<a" * 50_000,
    "< * 100k": "<" * 100_000,
    "& * 100k": "&" * 100_000,
    "<!-- * 25k": "<!--" * 25_000,
    "<p> words": "<p>" + "word " * 20_000 + "</p>",
}
TIME_INPUTS = {
    "PT * 40k": "PT " * 40_000,
    "PT: 1 + 90k digits": "PT: 1" + "1" * 90_000,
    "%C&A * 30k": "%C&A " * 30_000,
}
PLAIN = ("Kundin liest den Artikel und vergleicht die Angebote. " * 2_000)[:100_000]


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from service.domain.ruleset import Ruleset

    rules = Ruleset()
    anchor_html = best_of(lambda: html_to_text(PLAIN))
    print(f"anchor html_to_text(plain 100k): {anchor_html * 1000:.2f} ms")
    for name, text in HTML_INPUTS.items():
        t = best_of(lambda text=text: html_to_text(text))
        print(f"  html_to_text {name:<22} {t * 1000:8.2f} ms  ratio {t / anchor_html:6.2f}")

    def times_of(text: str) -> None:
        parse_times(text, rules)
        strip_marks(text, rules)
        count_vote_marks(text)

    anchor_times = best_of(lambda: times_of(PLAIN))
    print(f"anchor parse_times+strip_marks(plain 100k): {anchor_times * 1000:.2f} ms")
    for name, text in TIME_INPUTS.items():
        t = best_of(lambda text=text: times_of(text))
        print(f"  times {name:<29} {t * 1000:8.2f} ms  ratio {t / anchor_times:6.2f}")


if __name__ == "__main__":
    main()
