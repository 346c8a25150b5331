"""Summarise the last mutmut run per module (bench/mutation.sh calls this).

    python bench/mutation_report.py [module…]

Prints, per module of the core: mutants, reached by a test, killed, survived, the score
(killed / reached), then each survivor with its change, and says which survivors are not
yet explained in docs/mutation.md. Exits 1 when a survivor is unexplained.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("hlc", "ops", "merge", "rotation", "storage")
KILLED = {"killed", "timeout"}
SKIPPED = {"no tests", "not checked"}


def statuses(module: str) -> dict[str, str]:
    meta = ROOT / "mutants" / "xcircle" / f"{module}.py.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def change(name: str) -> str:
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    lines = [
        line for line in shown.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    return " | ".join(line.strip() for line in lines)


def main(modules: list[str]) -> int:
    explained = (ROOT / "docs" / "mutation.md").read_text("utf-8")
    unexplained = 0
    for module in modules:
        status = statuses(module)
        counts = Counter(status.values())
        reached = len(status) - counts["no tests"] - counts["not checked"]
        killed = sum(counts[s] for s in KILLED)
        survivors = sorted(n for n, s in status.items() if s not in KILLED | SKIPPED)
        score = 100 * killed / reached if reached else 0.0
        timeouts = f" ({counts['timeout']} by a timeout)" if counts["timeout"] else ""
        unrun = f"; {counts['not checked']} not run yet" if counts["not checked"] else ""
        print(
            f"{module}: {len(status)} mutants, {reached} reached by a test, {killed} killed"
            f"{timeouts}, {len(survivors)} survived{unrun}: {score:.1f}%"
        )
        for name in survivors:
            short = name.removeprefix("xcircle.")
            mark = "" if f"`{short}`" in explained else "  (not in docs/mutation.md)"
            unexplained += bool(mark)
            print(f"  {status[name]:9} {short}{mark}\n            {change(name)}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(MODULES)))
