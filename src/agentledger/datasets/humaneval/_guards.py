"""Isolation the sandboxed interpreter applies to itself before it runs untrusted code.

This file is not imported by the toolkit: :mod:`.sandbox` sends its text to a fresh
``python -I -S -B`` process, which calls :func:`apply` first. It uses the standard library
only. Each kernel mechanism is tried and its outcome reported; none is required, because the
audit hook installed last is the guard where the kernel offers nothing:

* resource limits: CPU seconds, address space, file size, processes, open files, no core;
* a new network namespace (``unshare``: as root directly, otherwise with a user namespace),
  so there is no interface but a loopback that is down;
* ``no_new_privs`` and a seccomp filter that makes ``fork``, ``vfork``, ``clone`` of a new
  process and ``clone3`` fail (threads are still allowed), so fork bombs never start;
* Landlock: files read-only under the standard library and system library folders, read-write
  only under the run's temporary folder; TCP bind and connect denied (ABI 4+); signals and
  abstract unix sockets limited to the sandbox (ABI 6+);
* an audit hook (cannot be removed from Python) that denies opens and file changes outside
  the same allow-list, sockets, process creation, signals to other processes and ctypes.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
import sys
from typing import Any

__all__ = ["apply"]

_CLONE_NEWUSER, _CLONE_NEWNET, _CLONE_THREAD = 0x10000000, 0x40000000, 0x00010000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
# machine -> (audit arch, clone, clone3, fork, vfork, landlock create/add/restrict); fork/vfork -1 = none
_ARCH = {
    "x86_64": (0xC000003E, 56, 435, 57, 58, (444, 445, 446)),
    "aarch64": (0xC00000B7, 220, 435, -1, -1, (444, 445, 446)),
}
_LL_READ = 1 | 4 | 8  # EXECUTE | READ_FILE | READ_DIR
_LL_FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # rights valid on a file (not a folder)
_SYSTEM_READ_ONLY = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/share/zoneinfo",
                     "/etc/ld.so.cache", "/etc/localtime")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
_SPAWN_EVENTS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system",
                           "subprocess.Popen", "pty.spawn", "os.startfile", "os.setsid"})
_WRITE_EVENTS = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink",
                           "os.link", "os.truncate", "os.utime", "os.chflags", "os.mkfifo", "os.mknod"})
_DENIED_IMPORTS = frozenset({"_ctypes", "ctypes", "_posixsubprocess"})  # foreign calls, raw fork_exec


def _long(value: int) -> Any:
    """A syscall argument at full register width (variadic ``syscall`` reads longs)."""
    return ctypes.c_long(value)


def _set_limits(cfg: dict[str, Any]) -> None:
    mb = 1024 * 1024
    limits = [(resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1),
              (resource.RLIMIT_AS, cfg["memory_mb"] * mb, cfg["memory_mb"] * mb),
              (resource.RLIMIT_FSIZE, cfg["file_mb"] * mb, cfg["file_mb"] * mb),
              (resource.RLIMIT_NPROC, cfg["processes"], cfg["processes"]),
              (resource.RLIMIT_NOFILE, cfg["open_files"], cfg["open_files"]),
              (resource.RLIMIT_CORE, 0, 0)]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def _unshare_network(libc: Any) -> str | None:
    """A network namespace of our own: in a user namespace (dropping host capabilities), else directly."""
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        try:  # map our own ids, or files could not be created (EOVERFLOW)
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as fh:
                    fh.write(text)
        except OSError:
            return "user+net namespace (ids unmapped)"
        return "user+net namespace"
    return "net namespace" if libc.unshare(_CLONE_NEWNET) == 0 else None


def _seccomp_no_processes(libc: Any, arch: tuple[Any, ...]) -> bool:
    audit, clone, clone3, fork, vfork = arch[:5]
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, eagain, enosys = 0x7FFF0000, 0x00050000 | 11, 0x00050000 | 38
    eperm = 0x00050000 | 1
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, eperm), (ld, 0, 0, 0)]  # other ABIs: refused
    if audit == 0xC000003E:  # x32 syscalls carry bit 30: refuse them all
        prog += [(jset, 0, 1, 0x40000000), (ret, 0, 0, eperm)]
    prog += [(jeq, 0, 1, clone3), (ret, 0, 0, enosys)]
    for nr in (fork, vfork):
        if nr >= 0:
            prog += [(jeq, 0, 1, nr), (ret, 0, 0, eagain)]
    prog += [(jeq, 1, 0, clone), (ret, 0, 0, allow), (ld, 0, 0, 16), (jset, 0, 1, _CLONE_THREAD),
             (ret, 0, 0, allow), (ret, 0, 0, eagain)]
    filt = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in prog))
    fprog = struct.pack("@HP", len(prog), ctypes.addressof(filt))  # struct sock_fprog
    buf = ctypes.create_string_buffer(fprog)
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, buf, 0, 0) == 0


def _landlock(libc: Any, arch: tuple[Any, ...], read_only: list[str], work_dir: str) -> int:
    create, add_rule, restrict = arch[5]
    abi = libc.syscall(_long(create), None, _long(0), _long(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return 0
    fs = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0) | (1 << 15 if abi >= 5 else 0)
    net = 3 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, with no rule allowing any port
    scoped = 3 if abi >= 6 else 0  # abstract unix sockets | signals
    attr = ctypes.create_string_buffer(struct.pack("=QQQ", fs, net, scoped))
    ruleset = libc.syscall(_long(create), attr, _long(len(attr.raw)), _long(0))
    if ruleset < 0:
        return 0
    try:
        rules = [(path, _LL_READ) for path in read_only] + [(dev, 2 | 4 | (1 << 14) | (1 << 15)) for dev in _DEVICES]
        rules.append((work_dir, fs))
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):
                    rights &= _LL_FILE_RIGHTS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & fs, fd))
                libc.syscall(_long(add_rule), _long(ruleset), _long(1), rule, _long(0))  # RULE_PATH_BENEATH
            finally:
                os.close(fd)
        return abi if libc.syscall(_long(restrict), _long(ruleset), _long(0)) == 0 else 0
    finally:
        os.close(ruleset)


def _beneath(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _install_hook(read_only: tuple[str, ...], work_dir: str) -> None:
    readable, writable = read_only + (work_dir,) + _DEVICES, (work_dir,) + _DEVICES
    own_pid = os.getpid()

    def resolve(raw: Any) -> str | None:
        if raw is None:
            return os.path.realpath(".")
        if isinstance(raw, int):
            return None  # an already open descriptor
        return os.path.realpath(os.fsdecode(raw))

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path = resolve(args[0])
            mode, flags = args[1] or "", args[2] or 0
            write = any(c in mode for c in "wax+") or bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if path is not None and not _beneath(path, writable if write else readable):
                raise PermissionError(f"sandbox: access to {path} is not allowed")
        elif event in ("os.listdir", "os.scandir"):
            path = resolve(args[0])
            if path is not None and not _beneath(path, readable):
                raise PermissionError(f"sandbox: listing {path} is not allowed")
        elif event in _WRITE_EVENTS:
            for raw in (a for a in args if isinstance(a, (str, bytes, os.PathLike))):
                if not _beneath(resolve(raw) or "", writable):
                    raise PermissionError(f"sandbox: changing {os.fsdecode(raw)} is not allowed")
        elif event in _SPAWN_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed (no processes can be started)")
        elif event.startswith(("socket.", "ctypes.")):
            raise PermissionError(f"sandbox: {event.split('.')[0]} is not allowed")
        elif event == "import" and args[0] in _DENIED_IMPORTS:
            raise ImportError(f"sandbox: module {args[0]} is not available")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill") and args[0] not in (own_pid, 0):
            raise PermissionError("sandbox: signals to other processes are not allowed")

    sys.addaudithook(hook)


def apply(cfg: dict[str, Any]) -> dict[str, Any]:
    """Apply the guards ``cfg["guards"]`` asks for ("all", "kernel" or "hook"); return which are in force."""
    work_dir = os.path.realpath(cfg["work_dir"])
    paths = [p for p in sys.path if p and os.path.exists(p)] + [p for p in _SYSTEM_READ_ONLY if os.path.exists(p)]
    read_only = tuple(os.path.realpath(p) for p in paths)
    _set_limits(cfg)
    done: dict[str, Any] = {"rlimits": True, "network_namespace": None, "seccomp_no_processes": False,
                            "landlock_abi": 0, "audit_hook": cfg["guards"] in ("all", "hook")}
    arch = _ARCH.get(platform.machine())
    if cfg["guards"] in ("all", "kernel") and sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        done["network_namespace"] = _unshare_network(libc)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 and arch is not None:
            done["landlock_abi"] = _landlock(libc, arch, list(read_only), work_dir)
            done["seccomp_no_processes"] = _seccomp_no_processes(libc, arch)
    for name in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
        del sys.modules[name]
    if done["audit_hook"]:
        _install_hook(read_only, work_dir)
    return done
