"""Paired-round timing: the measured path and its floor alternate, and the median ratio is reported."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


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


def paired(name: str, measured: Callable[[], object], floor: Callable[[], object], calls: int,
           rounds: int = 7, warmup: int = 1) -> Result:
    """Alternate floor and measured for ``rounds`` rounds of ``calls`` calls each (after warm-up)."""
    for _ in range(warmup):
        per_call(floor, max(1, calls // 10))
        per_call(measured, max(1, calls // 10))
    ratios, ms, fs = [], [], []
    for i in range(rounds):
        if i % 2:
            m = per_call(measured, calls)
            f = per_call(floor, calls)
        else:
            f = per_call(floor, calls)
            m = per_call(measured, calls)
        ms.append(m)
        fs.append(f)
        ratios.append(m / f)
    return Result(name, statistics.median(ms), statistics.median(fs), statistics.median(ratios), rounds)


def line(label: str, value: str, target: str, met: bool) -> str:
    return f"{label:<44} {value:>18}   target {target:<14} {'MET' if met else 'MISSED'}"
