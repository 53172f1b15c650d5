"""Redaction benchmark: large tool outputs and the per-event scan, outside pytest.

Times :meth:`tether.observe.Redactor.redact_json` on a ``tool.completed`` event whose
result is a large string (the size of the string is the size named), with a redactor
that knows two broker values, as the runtime builds it. Inputs:

* ``form``: form-urlencoded ``k0=v0&k1=v1&...`` with a ``password=...`` pair and a
  known value in the middle (one secret to find, everything else kept);
* ``dotted``: ``a.a.a.a...`` with one ``@``, the shape that made the old ``url_credentials``
  regex try every letter to the end of the text (300 KB took about 20 s);
* ``urls``: ``http://user:pw@host/`` URL-ish text with many ``@`` and ``:``;
* ``random``: random printable ASCII with spaces (words of random characters).

Also times :meth:`~tether.observe.Redactor.scan` on a clean 900-byte event (the hot path
of every persisted event) with and without known values. Prints one JSON object on
stdout: milliseconds per call (best of ``--repeat``; wall clock, and CPU time, which a
busy machine inflates less) and µs per scan. The exit code is 0
whatever the numbers; the target (10 MB in under 1 s of CPU) is reported as ``ok_10mb``.

    python benchmarks/redact.py
    python benchmarks/redact.py --repeat 1 --sizes 300000,400000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import timeit
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
try:
    import tether  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(_ROOT / "src"))

from tether.observe import OFFLOAD_BYTES, Redactor  # noqa: E402

SECRET = "hunter2-Hunter2-xyz"
OTHER = "s3cr3t-value-0042"

CLEAN_EVENT = (
    b'{"v":1,"type":"model.completed","call":0,"response":{"text":"The weather in Paris is '
    b"sunny with a high of 24 degrees, similar tomorrow. Lorem ipsum dolor sit amet, "
    b"consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    b"magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris "
    b"nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in "
    b'voluptate velit esse cillum dolore eu fugiat nulla pariatur.","tool_calls":[{"id":'
    b'"call_8f3a2b","name":"get_weather","arguments":{"city":"Paris","units":"metric"}}],'
    b'"usage":{"input_tokens":812,"output_tokens":64,"cached_input_tokens":768,"cache_'
    b'write_tokens":0},"finish_reason":"stop","model":"openai:gpt-4o-mini"},'
    b'"prefix_hash":"3fa9c2d1e0b47a65","latency_ms":412.5}'
)


def _fit(text: str, size: int) -> str:
    return text[:size]


def _form(size: int) -> str:
    half = "&".join(f"k{i}=v{i}" for i in range(size // 14 + 1))[: size // 2]
    return _fit(f"{half}&password=pw-9&note={SECRET}&{half}", size)


def _dotted(size: int) -> str:
    return _fit("a." * (size // 2) + "@", size)


def _urls(size: int) -> str:
    return _fit("http://user:pw@host.example/a:b@c " * (size // 30 + 1), size)


def _random(size: int) -> str:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;=&@/-_"
    return "".join(rng.choices(alphabet, k=size))


CASES = {"form": _form, "dotted": _dotted, "urls": _urls, "random": _random}


def _event(result: str) -> bytes:
    event = {"v": 1, "type": "tool.completed", "call": 0, "call_id": "c1", "tool": "t"}
    return json.dumps({**event, "result": result}).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300000,400000,10000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    values = frozenset({SECRET, OTHER})
    redactor = Redactor(values_source=lambda: values)

    out: dict[str, object] = {"offload_bytes": OFFLOAD_BYTES, "redact_json_ms": {}}
    table: dict[str, dict[str, float]] = {}
    cpu_table: dict[str, dict[str, float]] = {}
    for name, make in CASES.items():
        for size in sizes:
            data = _event(make(size))
            best = best_cpu = float("inf")
            for _ in range(args.repeat):
                started, started_cpu = time.perf_counter(), time.process_time()
                redacted = redactor.redact_json(data)
                best = min(best, time.perf_counter() - started)
                best_cpu = min(best_cpu, time.process_time() - started_cpu)
            if name == "form":
                assert SECRET.encode() not in redacted and b"pw-9" not in redacted
                assert len(redacted) > len(data) * 0.9  # the secret went, not the result
            table.setdefault(name, {})[str(size)] = round(best * 1000, 1)
            cpu_table.setdefault(name, {})[str(size)] = round(best_cpu * 1000, 1)
            print(
                f"{name} {size}: {best * 1000:.1f} ms ({best_cpu * 1000:.1f} ms CPU)",
                file=sys.stderr,
            )
    out["redact_json_ms"] = table
    out["redact_json_cpu_ms"] = cpu_table

    scans: dict[str, float] = {}
    for label, scanner in (("no_values", Redactor()), ("two_values", redactor)):
        assert not scanner.scan(CLEAN_EVENT)
        number = 20000
        best = min(timeit.repeat(lambda s=scanner: s.scan(CLEAN_EVENT), number=number, repeat=5))
        scans[label] = round(best / number * 1e6, 2)
    out["scan_clean_event_us"] = scans
    out["clean_event_bytes"] = len(CLEAN_EVENT)
    ten_mb = [t["10000000"] for t in cpu_table.values() if "10000000" in t]
    if ten_mb:  # CPU time: on a loaded machine the wall clock also counts other processes
        out["ok_10mb"] = all(ms < 1000 for ms in ten_mb)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
