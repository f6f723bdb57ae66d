#!/usr/bin/env python3
"""Plain Python aggregation of grade files, the baseline for bench-aggregate.sh.

Walks output/ with os.walk, loads every *_eval.json with json.load, takes model
and temperature from the file name with a regex, and prints the mean accuracy
per (model, temperature) cell and the elapsed milliseconds.
"""

import json
import os
import re
import sys
import time

NAME = re.compile(r"^(?P<model>.+)\.t(?P<temp>\d\d|[0-9.]+),num(?P<id>.+?)(,rep\d+)?_eval\.json$")
SKIP = {"Summaries", "specifics", "graphs"}


def main():
    root = sys.argv[1]
    start = time.perf_counter()
    sums = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP]
        for name in files:
            match = NAME.match(name)
            if not match:
                continue
            with open(os.path.join(folder, name)) as f:
                grade = json.load(f)
            tag = match["temp"]
            temp = int(tag) / 10 if len(tag) == 2 else float(tag)
            key = (match["model"], round(temp, 6))
            cell = sums.setdefault(key, [0.0, 0])
            cell[0] += float(grade["accuracy"])
            cell[1] += 1
    means = {key: total / count for key, (total, count) in sums.items()}
    elapsed_ms = (time.perf_counter() - start) * 1000
    print(f"cells={len(means)} grades={sum(c for _, c in sums.values())}", file=sys.stderr)
    print(f"{elapsed_ms:.1f}")


if __name__ == "__main__":
    main()
