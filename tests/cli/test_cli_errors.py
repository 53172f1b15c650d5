"""The ``tether`` command never shows a traceback for a broken store or a broken agent module.

Each failure is one ``error:`` line on stderr saying what went wrong and what to do
next, with a stable exit code (see ``tether.cli``): 4 for a store that cannot be used,
2 for an agent that cannot be loaded, 70 for a bug in Tether. Most cases run the real
command in a subprocess, the way a person meets them.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tether.cli import EXIT_INTERNAL, EXIT_STORE, EXIT_USAGE, app

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = f"{ROOT / 'examples' / 'support_scripted.py'}:agent"


def tether_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tether.cli ARGS`` in a fresh process, as a person would."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    full_env.pop("TETHER_STORE", None)
    full_env.pop("TETHER_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "tether.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def tether(*args: str) -> Result:
    """Invoke the CLI in process; an exception that escapes fails the test."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def assert_one_error_line(stderr: str, *parts: str) -> None:
    """stderr is a single ``error:`` line with no traceback, mentioning every part."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"


# -- stores that cannot be used ---------------------------------------------------------------


def corrupt_store(tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    """A store file full of random bytes."""
    path = tmp_path / "t.db"
    path.write_bytes(os.urandom(8192))
    return f"sqlite:///{path}", (str(path), "not a readable Tether database", "backup")


def directory_store(tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    """A store path that names a directory."""
    path = tmp_path / "store"
    path.mkdir()
    return f"sqlite:///{path}", ("is a directory", f"sqlite:///{path / 'tether.db'}")


def newer_store(tmp_path: Path) -> tuple[str, tuple[str, ...]]:
    """A store written by a newer Tether: its schema version is past what this code knows."""
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    conn.close()
    return f"sqlite:///{path}", ("schema version 999", "pip install -U tether-runtime")


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process may not create files in.

    A read-only directory, unless the tests run as root (which writes anywhere):
    then ``/sys``, where not even root may create files.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        yield Path("/sys")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


STORES: dict[str, Callable[[Path], tuple[str, tuple[str, ...]]]] = {
    "corrupt": corrupt_store,
    "directory": directory_store,
    "newer-schema": newer_store,
}


@pytest.mark.parametrize("case", list(STORES))
def test_unusable_store_is_one_line_and_exit_4_in_a_real_process(case: str, tmp_path: Path) -> None:
    """A corrupt, directory or newer-version store: what is wrong and what to do, exit 4."""
    url, parts = STORES[case](tmp_path)
    proc = tether_process("runs", "--store", url, cwd=tmp_path)
    assert proc.returncode == EXIT_STORE, proc.stderr
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr, *parts)


@pytest.mark.parametrize("case", list(STORES))
@pytest.mark.parametrize(
    "command",
    [
        ("run", SUPPORT, "Where is order 1234?"),
        ("show", "run_x"),
        ("killswitch", "status"),
        ("signal", "run_x", "cancel", SUPPORT),
        ("approve", "run_x", "call_0_0"),
    ],
    ids=lambda c: c[0],
)
def test_every_command_reports_an_unusable_store_the_same_way(
    case: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    """Commands that write, read or only decide all give the store's one line and exit 4."""
    url, parts = STORES[case](tmp_path)
    result = tether(*command, "--store", url)
    assert result.exit_code == EXIT_STORE, result.output
    assert "Traceback" not in result.output
    assert "error: " in result.output
    for part in parts:
        assert part in result.output


def test_store_in_an_unwritable_directory(tmp_path: Path, unwritable_dir: Path) -> None:
    """A store that cannot be created where it is asked for names the folder; exit 4."""
    path = unwritable_dir / "tether-cli-test.db"
    proc = tether_process("killswitch", "--store", f"sqlite:///{path}", cwd=tmp_path)
    assert proc.returncode == EXIT_STORE, proc.stderr
    assert_one_error_line(proc.stderr, str(path), "write", str(unwritable_dir))
    assert not path.exists()


def test_store_whose_folder_cannot_be_created(tmp_path: Path, unwritable_dir: Path) -> None:
    """The store's folder cannot be made: the OS reason and the folder to fix; exit 4."""
    path = unwritable_dir / "tether-cli-test" / "t.db"
    proc = tether_process(
        "run", SUPPORT, "Where is order 1234?", "--store", f"sqlite:///{path}", cwd=tmp_path
    )
    assert proc.returncode == EXIT_STORE, proc.stderr
    assert_one_error_line(proc.stderr, "cannot create the store", str(path.parent))


def test_read_only_store_file(tmp_path: Path) -> None:
    """A store file nobody may write (a read-only copy) says so; exit 4."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Root writes through file modes, so no file is read-only to it: check the
        # diagnosis of the error SQLite raises for one instead.
        from tether._cli._errors import store_failure

        err = sqlite3.OperationalError("attempt to write a readonly database")
        failure = store_failure(err, f"sqlite:///{tmp_path / 't.db'}")
        assert failure is not None and failure.code == EXIT_STORE
        assert "read-only" in failure.message and "writable" in (failure.hint or "")
        return
    path = tmp_path / "t.db"
    assert tether("killswitch", "--store", f"sqlite:///{path}").exit_code == 0
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        proc = tether_process("killswitch", "on", "--store", f"sqlite:///{path}", cwd=tmp_path)
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
    assert proc.returncode == EXIT_STORE, proc.stderr
    assert_one_error_line(proc.stderr, str(path))


def test_missing_store_is_still_not_an_error_for_reads(tmp_path: Path) -> None:
    """`runs` on a store that does not exist yet says so and exits 0 (nothing is broken)."""
    proc = tether_process("runs", "--store", f"sqlite:///{tmp_path}/nope.db", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no store at" in proc.stdout
    assert not (tmp_path / "nope.db").exists()


# -- agent modules that cannot be loaded ------------------------------------------------------

AGENT = """
from tether import Agent
from tether.testing import ScriptedModel, text

agent = Agent(name="fine", model=ScriptedModel([text("ok")]))
"""


def write_module(folder: Path, name: str, source: str) -> Path:
    """Write ``name.py`` into ``folder``."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def line_of(path: Path, needle: str) -> str:
    """``line N`` of the first line of ``path`` that contains ``needle``."""
    lines = path.read_text().splitlines()
    return f"line {next(i for i, line in enumerate(lines, 1) if needle in line)}"


@pytest.mark.parametrize(
    ("code", "shown"),
    [("0", "sys.exit(0)"), ("", "sys.exit(None)"), ("3", "sys.exit(3)"), ("'bye'", "'bye'")],
    ids=["zero", "none", "three", "message"],
)
def test_agent_module_that_exits_at_import_is_an_error(
    tmp_path: Path, code: str, shown: str
) -> None:
    """`sys.exit()` while loading the agent is exit 2 with the line, never a silent exit."""
    path = write_module(tmp_path, "script", f"import sys\n{AGENT}\nsys.exit({code})\n")
    proc = tether_process(
        "run", f"{path}:agent", "hi", "--store", f"sqlite:///{tmp_path}/t.db", cwd=tmp_path
    )
    assert proc.returncode == EXIT_USAGE, (proc.stdout, proc.stderr)
    assert_one_error_line(
        proc.stderr,
        f"loading {path}",
        shown,
        line_of(path, "sys.exit"),
        'if __name__ == "__main__":',
    )
    assert not (tmp_path / "t.db").exists(), "nothing may run after a failed load"


def test_agent_module_imported_by_name_that_exits(tmp_path: Path) -> None:
    """The same through `package.module:agent`: the module is named, exit 2."""
    write_module(tmp_path, "exits_on_import", "import sys\nsys.exit(0)\n")
    proc = tether_process("run", "exits_on_import:agent", "hi", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE, (proc.stdout, proc.stderr)
    assert_one_error_line(proc.stderr, "loading exits_on_import called sys.exit(0)")


def test_agent_factory_that_exits(tmp_path: Path) -> None:
    """A factory function that calls `sys.exit()` is named with the call; exit 2."""
    source = "import sys\n\ndef make_agent():\n    sys.exit(1)\n"
    path = write_module(tmp_path, "factory", source)
    result = tether("run", f"{path}:make_agent", "hi", "--store", f"sqlite:///{tmp_path}/t.db")
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"calling {path}:make_agent() called sys.exit(1)" in result.output


def test_agent_module_that_raises_at_import(tmp_path: Path) -> None:
    """An exception while loading names the module, the exception and the line; exit 2."""
    path = write_module(tmp_path, "broken", f"{AGENT}\nraise ValueError('no API key set')\n")
    proc = tether_process("run", f"{path}:agent", "hi", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE, (proc.stdout, proc.stderr)
    assert_one_error_line(
        proc.stderr, f"loading {path} raised ValueError: no API key set", line_of(path, "raise")
    )


def test_agent_module_by_name_that_raises_at_import(tmp_path: Path) -> None:
    """A module given by name whose own import fails: the module and the error; exit 2."""
    write_module(tmp_path, "needs_missing", "import not_installed_xyz\n")
    proc = tether_process("run", "needs_missing:agent", "hi", cwd=tmp_path)
    assert proc.returncode == EXIT_USAGE, (proc.stdout, proc.stderr)
    assert_one_error_line(
        proc.stderr, "loading needs_missing raised ModuleNotFoundError", "not_installed_xyz"
    )


# -- runs that cannot do what was asked ------------------------------------------------------


def test_signal_to_a_finished_run_points_at_its_timeline(tmp_path: Path) -> None:
    """A finished run refuses signals (RunFinishedError): exit 2, pointing at `tether show`."""
    store = f"sqlite:///{tmp_path}/t.db"
    done = tether("run", SUPPORT, "Where is order 1234?", "--store", store)
    assert done.exit_code == 0, done.output
    run_id = next(word for word in done.output.split() if word.startswith("run_"))
    late = tether("signal", run_id, "input", SUPPORT, "--payload", '"hi"', "--store", store)
    assert late.exit_code == EXIT_USAGE, late.output
    assert "already completed" in late.output
    assert f"see what happened with `tether show {run_id} --store {store}`" in late.output


# -- anything else --------------------------------------------------------------------------


def test_unexpected_error_is_one_line_and_exit_70(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in Tether is one line and exit 70; TETHER_TRACEBACK=1 shows the traceback."""
    from tether import Runtime

    async def broken(self: Runtime, **kwargs: object) -> list[object]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Runtime, "list_runs", broken)
    store = f"sqlite:///{tmp_path}/t.db"
    assert tether("killswitch", "--store", store).exit_code == 0  # the store exists
    result = tether("runs", "--store", store)
    assert result.exit_code == EXIT_INTERNAL, result.output
    assert "internal error: ZeroDivisionError: division by zero" in result.output
    assert "TETHER_TRACEBACK=1" in result.output and "Traceback" not in result.output

    monkeypatch.setenv("TETHER_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        tether("runs", "--store", store)


def test_error_before_a_command_runs_is_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What escapes a command (here: building its session) is still one line and exit 70."""
    import tether.cli
    from tether._cli._session import Session

    def broken(self: Session, store: str | None, *, agent_ref: str | None = None) -> None:
        raise KeyError("COLUMNS")

    monkeypatch.setattr(Session, "__init__", broken)
    monkeypatch.setattr(sys, "argv", ["tether", "runs"])
    with pytest.raises(SystemExit) as exited:
        tether.cli.main()
    assert exited.value.code == EXIT_INTERNAL
    assert_one_error_line(capsys.readouterr().err, "internal error: KeyError: 'COLUMNS'")


def test_exit_codes_are_documented() -> None:
    """Every exit code the CLI exports is in the table of ``tether.cli``'s docstring."""
    import tether.cli

    doc = tether.cli.__doc__ or ""
    table = doc[doc.index("====") :]
    codes = {
        name: value
        for name, value in vars(tether.cli).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert set(codes) == {name for name in tether.cli.__all__ if name.startswith("EXIT_")}
    assert len(set(codes.values())) == len(codes), "two names share an exit code"
    for name, value in codes.items():
        assert f"\n{value} " in table, f"{name} = {value} is not documented"
