"""Runs a program so that it, and every process it starts, dies with the terrarium run that asked.

Node cannot set a parent-death signal for its children, and `python -m venv` runs ensurepip, and pip
may run builds, as processes of their own: after a SIGKILL of terrarium they would go on writing into
its staging directory. This helper makes a process group of its own (which the program and all it
starts join), asks the kernel for SIGTERM when terrarium dies (PR_SET_PDEATHSIG), and on SIGTERM, from
the kernel or from terrarium stopping the build, kills the whole group.

Usage: python supervise.py PARENT_PID PROGRAM [ARGS...]. Exits with the program's status (128 + N
when a signal N ended it); 125 when the run that asked is already gone, or the program cannot start.
Runs on every interpreter terrarium supports, 2.7 included.
"""
import errno
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def stop(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.killpg(0, signal.SIGKILL)


def main(parent, argv):
    os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, stop)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (ImportError, AttributeError, OSError):
        pass
    # Died while this started: the kernel sends no signal for a death that came before the request.
    if os.getppid() != parent:
        return 125
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            sys.stderr.write("cannot run %s: %s\n" % (argv[0], sys.exc_info()[1]))
            os._exit(125)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except OSError as error:
            if error.errno != errno.EINTR:
                raise
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2:]))
