"""The sandbox's seccomp filter: no new namespaces, no mounts, as a classic BPF program.

Sandboxed code must not create namespaces of its own. In a new user namespace it holds
every capability over the namespaces it creates next, so it could mount filesystems (an
unbounded tmpfs parks host memory that no rlimit counts) and reach the kernel's
namespace and mount code, a large attack surface. When Tether runs as root the sandbox
has no user namespace (the code drops to an unprivileged host uid instead), so
bubblewrap's ``--disable-userns`` is not available; this filter works in both modes.

bubblewrap loads the program with ``--seccomp FD`` just before it starts the bootstrap,
after setting ``no_new_privs``; every process of the sandbox inherits it. The filter
answers ``EPERM`` to:

* ``unshare`` and ``clone`` with any namespace flag;
* ``setns``, ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the new mount API
  (``open_tree``, ``move_mount``, ``fsopen``, ``fsconfig``, ``fsmount``, ``fspick``,
  ``mount_setattr``);
* any system call of another ABI (i386's ``int 0x80`` or x32 on x86-64), whose numbers
  this filter does not know.

``clone3`` passes its flags in memory a filter cannot read, so it gets ``ENOSYS``:
the C library then falls back to ``clone``, which the filter can check.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # little-endian: the low word of args[0] comes first

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
NAMESPACE_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000
NAMESPACE_FLAGS |= 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


@dataclass(frozen=True, slots=True)
class _Abi:
    audit_arch: int
    unshare: int
    clone: int
    clone3: int
    denied: tuple[int, ...]
    x32_bit: int | None = None


_MOUNT_API = (428, 429, 430, 431, 432, 433, 442)  # open_tree ... fspick, mount_setattr

_ABIS = {
    # setns, mount, umount2, pivot_root, chroot, then the new mount API (same numbers).
    "x86_64": _Abi(0xC000003E, 272, 56, 435, (308, 165, 166, 155, 161, *_MOUNT_API), 0x40000000),
    "aarch64": _Abi(0xC00000B7, 97, 220, 435, (268, 40, 39, 41, 51, *_MOUNT_API)),
}


def supported() -> bool:
    """Whether this machine's architecture has a filter (x86-64 and arm64)."""
    return _machine() in _ABIS


def _machine() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def namespace_filter() -> bytes:
    """The filter as bubblewrap reads it from ``--seccomp FD``: ``struct sock_filter[]``.

    Raises:
        OSError: This architecture has no filter (see :func:`supported`).
    """
    abi = _ABIS.get(_machine())
    if abi is None:
        raise OSError(f"no seccomp filter for the {platform.machine()} architecture")
    # Each entry: (code, jump-if-true label, jump-if-false label, k); None falls through.
    prog: list[tuple[int, str | None, str | None, int]] = [
        (_LD_W_ABS, None, None, _ARCH),
        (_JEQ_K, None, "deny", abi.audit_arch),
        (_LD_W_ABS, None, None, _NR),
    ]
    if abi.x32_bit is not None:
        prog.append((_JGE_K, "deny", None, abi.x32_bit))
    prog += [(_JEQ_K, "deny", None, nr) for nr in abi.denied]
    prog += [
        (_JEQ_K, "nosys", None, abi.clone3),
        (_JEQ_K, "flags", None, abi.unshare),
        (_JEQ_K, "flags", None, abi.clone),
        (_RET_K, None, None, _RET_ALLOW),
    ]
    labels = {"flags": len(prog)}
    prog += [
        (_LD_W_ABS, None, None, _ARG0_LOW),
        (_JSET_K, "deny", None, NAMESPACE_FLAGS),
        (_RET_K, None, None, _RET_ALLOW),
    ]
    labels["deny"] = len(prog)
    prog.append((_RET_K, None, None, _RET_ERRNO | errno.EPERM))
    labels["nosys"] = len(prog)
    prog.append((_RET_K, None, None, _RET_ERRNO | errno.ENOSYS))

    out = bytearray()
    for at, (code, jt, jf, k) in enumerate(prog):
        # Jumps are relative to the next instruction and only go forward.
        t = labels[jt] - at - 1 if jt else 0
        f = labels[jf] - at - 1 if jf else 0
        out += struct.pack("=HBBI", code, t, f, k)
    return bytes(out)
