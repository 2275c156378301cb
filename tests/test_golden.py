"""Golden outputs: the timing and traffic of a few fixed calls (tests/data/timing_golden.json,
written by scripts/make_timing_golden.py) and the README's worked example, each on a fresh
platform so that the numbers do not depend on what ran before."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import in_fresh_process

ROOT = Path(__file__).resolve().parent.parent


def test_timing_and_traffic_match_golden():
    out = in_fresh_process(
        f"""
        import json, sys
        sys.path.insert(0, {str(ROOT / "scripts")!r})
        from make_timing_golden import measure
        print(json.dumps(measure(), sort_keys=True))
        """
    )
    got = json.loads(out.strip().splitlines()[-1])
    want = json.loads((ROOT / "tests" / "data" / "timing_golden.json").read_text())
    assert got == want


def test_readme_worked_example_output(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A worked example") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    expected = re.search(r"Its output:\n\n```\n(.*?)```", section, re.S).group(1)
    code = code.replace('"trace.json"', repr(str(tmp_path / "trace.json")))
    out = in_fresh_process(code)
    assert out.strip() == expected.strip()
    assert (tmp_path / "trace.json").stat().st_size > 0
