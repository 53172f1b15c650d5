"""Startup benchmark: how long ``import tether`` and ``tether --help`` take, and why.

Runs each command in a fresh interpreter ``--repeat`` times, after one warm-up run
that fills a temporary bytecode cache (an installed package has one), and reports
the median and the fastest wall time in milliseconds. Then runs each once under
``python -X importtime`` and lists the ten modules with the largest cumulative
import time: where the milliseconds go.

    python benchmarks/startup.py                # 10 runs per command
    python benchmarks/startup.py --repeat 30

Commands measured:

- ``python``: ``python -c pass``, the interpreter's own floor (site, .pth files);
- ``import_tether``: ``python -c "import tether"``;
- ``tether_help``: ``tether --help`` through the console script installed next to
  this interpreter (not a shell shim such as pyenv's, which adds its own ~100 ms),
  else ``python -m tether.cli --help``;
- ``library``: ``python -c "import tether; tether.Runtime"``, the whole runtime as
  a program that uses it loads it.

Prints one JSON object on stdout. The target (``tether --help`` under 150 ms) is
reported, never asserted: the exit code is 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parent.parent
TARGET_HELP_MS = 150.0


def _help_command() -> tuple[list[str], str]:
    """The console script beside this interpreter, else ``python -m tether.cli``."""
    script = Path(sys.executable).parent / ("tether.exe" if os.name == "nt" else "tether")
    if script.is_file():
        return [str(script), "--help"], f"{script} --help"
    return [sys.executable, "-m", "tether.cli", "--help"], "python -m tether.cli --help"


def _commands() -> dict[str, tuple[list[str], str]]:
    help_argv, help_label = _help_command()
    return {
        "python": ([sys.executable, "-c", "pass"], "python -c pass"),
        "import_tether": ([sys.executable, "-c", "import tether"], 'python -c "import tether"'),
        "tether_help": (help_argv, help_label),
        "library": (
            [sys.executable, "-c", "import tether; tether.Runtime"],
            'python -c "import tether; tether.Runtime"',
        ),
    }


def _env(pycache: str) -> dict[str, str]:
    """The environment of every measured process: bytecode cached, like an installed package.

    ``PYTHONDONTWRITEBYTECODE`` (set in some containers and CI) would make every run
    compile Tether from source, a cost no installed copy pays; the bytecode goes to a
    temporary ``PYTHONPYCACHEPREFIX`` instead, so the source tree stays untouched.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    try:
        import tether  # noqa: F401
    except ImportError:  # a checkout without `pip install -e .`
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_ROOT / "src"), env.get("PYTHONPATH")) if p
        )
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _time(argv: list[str], env: dict[str, str], repeat: int) -> dict[str, float]:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the .pyc cache
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return {
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
    }


def _top_imports(argv: list[str], env: dict[str, str], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` modules with the largest cumulative import time, from ``-X importtime``."""
    if argv[0] != sys.executable:  # a console script: run the same code under -X importtime
        argv = [sys.executable, "-X", "importtime", "-m", "tether.cli", *argv[1:]]
    else:
        argv = [sys.executable, "-X", "importtime", *argv[1:]]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append(
            {
                "module": name.strip(),
                "cumulative_ms": round(int(cumulative_us) / 1000, 1),
                "self_ms": round(int(self_us) / 1000, 1),
            }
        )
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per command (default 10)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tether-startup-pyc-") as pycache:
        env = _env(pycache)
        for key, (argv, label) in _commands().items():
            results[key] = {
                "command": label,
                **_time(argv, env, args.repeat),
                "top_imports": _top_imports(argv, env),
            }
    help_ms = results["tether_help"]["median_ms"]
    report = {
        "benchmark": "startup",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "repeat": args.repeat,
        "target": {"tether_help_ms": TARGET_HELP_MS, "met": help_ms < TARGET_HELP_MS},
        "results": results,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
