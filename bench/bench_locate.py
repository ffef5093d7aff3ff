"""Benchmark: `recon locate` search time at 40 and 2,000 candidates (target: <= 2 s at 40). Not a test.

Amounts are random cents like a month's unexplained lines (1.00-5,000.00, a fifth of them negative);
a 4-line combination is planted so there is always something to find. Prints JSON.

    .venv/bin/python bench/bench_locate.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import time
from pathlib import Path

from recon.engine.locate import Candidate, search


def candidates(n: int, rng: random.Random) -> list[Candidate]:
    out = []
    for i in range(n):
        c = rng.randint(100, 500_000) * (-1 if rng.random() < 0.2 else 1)
        out.append(Candidate(f"f.csv:{i + 2}", "erp", rng.choice(["jd", "tmall", "pdd"]), c, 739_000 + i % 28,
                             f"line {i}"))
    return out


def measure(n: int, k: int, seed: int) -> dict:
    rng = random.Random(seed)
    cands = candidates(n, rng)
    planted = rng.sample(range(n), k)
    target = sum(cands[i].cents for i in planted)
    t = time.perf_counter()
    found = search(cands, target, max_lines=4)
    took = time.perf_counter() - t
    return {"candidates": n, "planted_lines": k, "seconds": round(took, 3),
            "combinations": len(found.solutions),
            "planted_found": tuple(sorted(planted)) in {tuple(sorted(s)) for s in found.solutions},
            "notes": found.notes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    runs = [measure(40, 4, 1), measure(40, 3, 2), measure(2000, 3, 3), measure(2000, 2, 4)]
    report = {"bench": "locate", "git": rev, "cpu": platform.processor() or platform.machine(),
              "python": platform.python_version(), "target": "<= 2 s at 40 candidates",
              "runs": runs, "target_met": all(r["seconds"] <= 2 for r in runs if r["candidates"] == 40)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
