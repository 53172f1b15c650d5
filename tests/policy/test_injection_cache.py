"""The injection scanner's table cache (``_injection_cache``) changes nothing a scan says.

A scanner built from the cache a first build wrote must flag exactly what a scanner
built with no cache flags, on every tuning and benign row of the corpus, with the same
compiled regexes; a corrupt cache is ignored; ``TETHER_CACHE_DIR=off`` writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _injection_corpus import tuning

from tether.policy import InjectionScanner
from tether.policy._injection_cache import TableCache


def _texts() -> list[str]:
    side = tuning()
    return [s.text for s in (*side.attacks, *side.benign)]


def _build(monkeypatch: pytest.MonkeyPatch, cache: str) -> InjectionScanner:
    monkeypatch.setenv("TETHER_CACHE_DIR", cache)
    scanner = InjectionScanner()
    scanner.prepare()
    return scanner


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("injection-*.json")) if folder.exists() else []


def test_a_scanner_built_from_the_cache_scans_exactly_like_one_built_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    plain = _build(monkeypatch, "off")
    first = _build(monkeypatch, str(folder))  # builds, and writes the cache
    assert len(_files(folder)) == 1
    seen: list[TableCache] = []
    original = TableCache.save

    def spy(self: TableCache) -> None:
        seen.append(self)
        original(self)

    monkeypatch.setattr(TableCache, "save", spy)
    cached = _build(monkeypatch, str(folder))  # a new scanner: what a new process builds
    assert seen and seen[0].hits > 100 and seen[0].misses == 0, "the build did not use the cache"

    assert cached._regexes is not None and plain._regexes is not None
    for a, b in zip(cached._regexes, plain._regexes, strict=True):
        assert (a.pattern, a.flags, a.groups, a.groupindex) == (
            b.pattern,
            b.flags,
            b.groups,
            b.groupindex,
        )
    texts = _texts()
    assert len(texts) > 1000
    for text in texts:
        expected = plain.scan(text)
        assert cached.scan(text) == expected, text
        assert first.scan(text) == expected, text


def test_a_corrupt_cache_is_ignored_and_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache"
    _build(monkeypatch, str(folder))
    (file,) = _files(folder)
    file.write_text('{"format": 1, "regexes": {"x": [1, [2, 3]]}, "analysis": []')  # cut off
    scanner = _build(monkeypatch, str(folder))
    plain = _build(monkeypatch, "off")
    for text in _texts()[:300]:
        assert scanner.scan(text) == plain.scan(text)
    assert file.read_text().endswith("}")  # rewritten whole


def test_a_program_that_does_not_load_falls_back_to_re_compile(tmp_path: Path) -> None:
    cache = TableCache(None)
    cache._regexes[next(iter(_keys(cache, "ab+c")))] = [0, [999999], 0, {}, []]  # garbage
    compiled = cache.compile("ab+c")
    assert compiled.search("xxabbbc") is not None and compiled.search("ac") is None


def _keys(cache: TableCache, pattern: str) -> list[str]:
    cache.compile(pattern)  # records it
    return list(cache._regexes)


def test_turned_off_the_cache_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _build(monkeypatch, "off")
    assert not list(tmp_path.rglob("injection-*.json"))
