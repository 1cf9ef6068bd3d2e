"""Atomically exchanges two paths with renameat2(RENAME_EXCHANGE).

Node has no binding for it, and Python's ctypes reaches libc on every interpreter terrarium supports
(2.7 included). Exit 0: exchanged; 3: not supported here (old kernel or libc, file system without it),
nothing changed; 4: failed, with the reason on stderr; 5: the terrarium run that asked is gone, nothing
changed.
"""
import ctypes
import errno
import os
import signal
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2
PR_SET_PDEATHSIG = 1


def main(parent, a, b):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (AttributeError, OSError):
        return 3
    # Die with the run that asked: killed while this Python started, that run can no longer record the
    # exchange, and the next run must not find a swap made behind its back, after it looked.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return 5
    encode = getattr(os, "fsencode", lambda p: p)
    if renameat2(AT_FDCWD, encode(a), AT_FDCWD, encode(b), RENAME_EXCHANGE) == 0:
        return 0
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EINVAL), errno.EXDEV):
        return 3
    sys.stderr.write("%s\n" % os.strerror(code))
    return 4


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
