"""Atomically exchanges two paths with renameat2(RENAME_EXCHANGE).

Node has no binding for it, and Python's ctypes reaches libc on every interpreter terrarium supports
(2.7 included). The two paths come on stdin, each ended by a NUL byte, and the exchange is made once
stdin closes: terrarium starts this helper while it still checks the new environment, so that Python's
start-up is not added to the swap, and closes stdin without paths when there is nothing to exchange.
Exit 0: exchanged; 3: not supported here (old kernel or libc, file system without it), nothing
changed; 4: failed, with the reason on stderr; 5: the terrarium run that asked is gone, or it asked
for nothing: nothing changed.
"""
import ctypes
import errno
import os
import signal
import sys

AT_FDCWD = -100
RENAME_EXCHANGE = 2
PR_SET_PDEATHSIG = 1


def main(parent):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (AttributeError, OSError):
        return 3
    # Die with the run that asked: killed while this Python started or waited, that run can no longer
    # record the exchange, and the next run must not find a swap made behind its back, after it looked.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        return 5
    paths = getattr(sys.stdin, "buffer", sys.stdin).read().split(b"\0")
    if len(paths) != 3 or paths[2] or os.getppid() != parent:
        return 5
    a, b = paths[0], paths[1]
    if renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
        return 0
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EINVAL), errno.EXDEV):
        return 3
    sys.stderr.write("%s\n" % os.strerror(code))
    return 4


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
