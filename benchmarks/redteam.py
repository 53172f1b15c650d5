"""Red-team benchmark: malicious tool outputs against a gullible model, outside pytest.

Runs the red-team set of ``tests/policy/redteam_cases.py`` (40 tool outputs that tell
the model to call write tools, exfiltrate secrets or change its instructions). Each case
is its own run on a fresh SQLite store in a temporary directory, and nothing is approved.
Prints one JSON object on stdout:

    cases, unapproved_writes, leaks, approvals_requested, denied, flagged, ...

``unapproved_writes`` and ``leaks`` must be 0; ``flagged`` counts the cases the
injection scanner recognises (a tripwire, not the defence). ``--table`` also prints one
line per case on stderr. The exit code is 1 when a write ran unapproved or a secret
leaked, 0 otherwise.

    python benchmarks/redteam.py
    python benchmarks/redteam.py --table
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT / "src"))
sys.path.insert(0, str(_ROOT / "tests" / "policy"))

from redteam_cases import run_redteam  # noqa: E402


async def _main(table: bool) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tether-redteam-") as directory:
        report = await run_redteam(Path(directory))
    counts = report.counts()
    counts["seconds"] = round(time.perf_counter() - started, 2)
    counts["flagged_ids"] = [r.case.id for r in report.results if r.flagged]
    counts["unflagged_ids"] = [r.case.id for r in report.results if not r.flagged]
    if table:
        print(report.table(), file=sys.stderr)
    print(json.dumps(counts, indent=2))
    return 1 if counts["unapproved_writes"] or counts["leaks"] else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="print one line per case on stderr")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(_main(args.table)))


if __name__ == "__main__":
    main()
