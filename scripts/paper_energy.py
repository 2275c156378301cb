"""Print the energy section of docs/paper-comparison.md (Fig. 15a in the compute and whole-job
scopes, the counts behind them, Table I) from a limited run of the paper study: exact,
conservative and aggressive only, on the first questions / paragraphs of each workload.

    .venv/bin/python scripts/paper_energy.py [--memn2n 0] [--kv 0] [--bert 30]   # 0: all

`a3sim paper` writes the same section from the full study (docs/energy-model.md section 4).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    from a3sim.paper import Profile, run_study
    from a3sim.paper_sections import energy_sections

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memn2n", type=int, default=0, help="test questions per bAbI task (0: all)")
    ap.add_argument("--kv", type=int, default=0, help="WikiMovies test questions (0: all)")
    ap.add_argument("--bert", type=int, default=30, help="SQuAD paragraphs (0: all)")
    args = ap.parse_args()
    t0 = time.time()
    prof = Profile(
        "energy",
        memn2n_limit=args.memn2n or None,
        kv_limit=args.kv or None,
        bert_limit=args.bert or None,
        bert_sweep_limit=args.bert or None,
    )
    study = run_study(prof, presets_only=True, progress=False)
    print(energy_sections(study))
    print(
        f"<!-- scripts/paper_energy.py --memn2n {args.memn2n} --kv {args.kv} --bert {args.bert}: "
        f"{time.time() - t0:.0f} s -->"
    )


if __name__ == "__main__":
    main()
