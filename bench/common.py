"""Paired-round timing: the measured path and its floor alternate, and the median ratio is reported."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")


@dataclass
class Result:
    name: str
    measured: float      # median seconds per call of the measured path
    floor: float         # median seconds per call of the floor
    ratio: float         # median of the per-round ratios measured/floor
    rounds: int

    @property
    def overhead(self) -> float:
        return self.measured - self.floor


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def alternate(rounds: int, *paths: Callable[[], T], before: Callable[[int], object] | None = None
              ) -> list[tuple[T, ...]]:
    """Run each path once per round for ``rounds`` rounds, rotating which one goes first.

    Returns one tuple per round with the paths' results in the order the paths were given.
    With two paths the order simply alternates; with three each takes every position.
    ``before(i)`` prepares round ``i`` (untimed).
    """
    results = []
    for i in range(rounds):
        if before is not None:
            before(i)
        shift = i % len(paths)
        got = {}
        for k in list(range(shift, len(paths))) + list(range(shift)):
            got[k] = paths[k]()
        results.append(tuple(got[k] for k in range(len(paths))))
    return results


def paired(name: str, measured: Callable[[], object], floor: Callable[[], object], calls: int,
           rounds: int = 7, warmup: int = 1) -> Result:
    """Alternate floor and measured for ``rounds`` rounds of ``calls`` calls each (after warm-up)."""
    for _ in range(warmup):
        per_call(floor, max(1, calls // 10))
        per_call(measured, max(1, calls // 10))
    pairs = alternate(rounds, lambda: per_call(floor, calls), lambda: per_call(measured, calls))
    fs, ms = [f for f, _ in pairs], [m for _, m in pairs]
    ratios = [m / f for f, m in pairs]
    return Result(name, statistics.median(ms), statistics.median(fs), statistics.median(ratios), rounds)


def line(label: str, value: str, target: str, met: bool) -> str:
    return f"{label:<44} {value:>18}   target {target:<14} {'MET' if met else 'MISSED'}"
