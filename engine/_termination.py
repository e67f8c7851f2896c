"""A termination request that no code path can lose.

The CLI turns SIGTERM into ``SystemExit`` so that open outputs are aborted on the way out. But Python runs a
signal handler wherever the main thread happens to be, and an exception raised inside a finaliser
(``__del__``), a weakref or garbage-collector callback is printed and dropped: the job would then run on
and commit its output as if nothing had happened. So the handler also records the request here, and every
place that renames a finished output into place asks first (``commit_file``): a terminated job never
replaces the previous output, whatever swallowed the exception.
"""
import os

_signum = None


def request(signum):
    """Record that the process was asked to terminate (by signal ``signum``)."""
    global _signum
    _signum = signum


def check():
    """Raise SystemExit(128 + signal) if termination was requested."""
    if _signum is not None:
        raise SystemExit(128 + _signum)


def commit_file(tmp, path):
    """os.replace(tmp, path), unless termination was requested (then SystemExit, tmp left to the caller's
    cleanup)."""
    check()
    os.replace(tmp, path)
