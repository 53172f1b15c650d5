"""The payload key file beside a SQLite store, created by processes starting together.

Two workers started at the same moment on a fresh store both look for ``payload.key``;
one creates it. The other must never read it half-written (it used to read an empty
file and fail with "payload key must be 32 bytes, got 0").
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 10

PROBE = """
import sys, time
from pathlib import Path
from tether.runtime._runtime import _default_codec
from tether.store._sqlite import SQLiteStore

base, start, rounds = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
for i in range(rounds):
    store = SQLiteStore(base / f"round{i}" / "tether.db")
    time.sleep(max(0.0, start + i * 0.1 - time.time()))  # every process at once
    assert _default_codec(store) is not None
    print((base / f"round{i}" / "payload.key").read_text().strip())
"""


def test_processes_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    """Eight processes create the key of a fresh store at the same moment, ten times over:
    each gets a codec, all read the same key (whoever linked first), no draft is left."""
    start = time.time() + 3.0  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, str(tmp_path), str(start), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    seen = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        seen.append(out.split())
    for i in range(ROUNDS):
        keys = {keys[i] for keys in seen}
        assert len(keys) == 1, f"round {i}: {len(keys)} different keys"
        assert sorted(p.name for p in (tmp_path / f"round{i}").iterdir()) == ["payload.key"]
