"""MemN2N accuracy on the float32 and the fixed-point datapath (docs/fixed-point.md).

    python scripts/fixed_point_accuracy.py [--tasks 2 3]

Each datapath is a hardware configuration, so each runs in its own process (one platform per
process). Prints a Markdown table: accuracy per task and mode on both datapaths, and the change in
percentage points.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

RUNS = (("exact", None), ("approx", "conservative"), ("approx", "aggressive"))

_CHILD = """
import json, sys
from a3sim import A3Driver
from a3sim.nn import memn2n
from a3sim.nn.attention import A3Attention
drv = A3Driver(config={"datapath": int(sys.argv[1])})
out = {}
for task in json.loads(sys.argv[2]):
    for mode, preset in json.loads(sys.argv[3]):
        out[f"{task}/{mode}/{preset}"] = memn2n.evaluate(task, A3Attention(drv, mode=mode, preset=preset))
print(json.dumps(out))
"""


def accuracies(datapath: int, tasks: list[int]) -> dict[str, float]:
    p = subprocess.run(
        [sys.executable, "-c", _CHILD, str(datapath), json.dumps(tasks), json.dumps(RUNS)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, nargs="+", default=[2, 3])
    args = ap.parse_args()
    f32, fx = accuracies(0, args.tasks), accuracies(1, args.tasks)
    print("| task | mode | float32 | fixed i=4, f=4 | change (points) |")
    print("|---|---|---|---|---|")
    for key in f32:
        task, mode, preset = key.split("/")
        label = mode if preset == "None" else f"{mode}/{preset}"
        print(f"| qa{task} | {label} | {f32[key]:.4f} | {fx[key]:.4f} | {100 * (fx[key] - f32[key]):+.2f} |")


if __name__ == "__main__":
    main()
