# Ctrl-C inside long kernels. Python sees a signal only when it runs bytecode or calls
# PyErr_CheckSignals, never while a kernel runs without the GIL. So a long parallel loop has
# its thread 0 (the calling Python thread) look for one every SIGNAL_INTERVAL_MS, the first
# look FIRST_LOOK_MS after the loop began: a short kernel never takes the GIL, and the force
# evaluation inside an ordinary MD step is not cut in half even on a loaded machine (MD
# looks between whole steps itself, ext/_md.pyx), while a long one still stops within a
# second. A loop that saw one skips its remaining items and returns STATUS_INTERRUPTED, with
# the handler's exception (KeyboardInterrupt) already set: check() in ext/_dispatch.pyx, or
# raise_pending() below, hands it on. Which items ran never changes the results of a call
# that completes.
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from _omp cimport omp_get_thread_num

cdef extern from "Python.h":
    # returns -1 with the handler's exception set
    int _check_signals "PyErr_CheckSignals" ()

cdef enum:
    SIGNAL_INTERVAL_MS = 100
    FIRST_LOOK_MS = 500


cdef inline double monotonic_seconds() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


cdef inline double first_look() noexcept nogil:
    """When a loop starting now should first look for a signal."""
    return monotonic_seconds() + 1e-3 * FIRST_LOOK_MS


cdef inline bint signal_pending(double *next_look) noexcept nogil:
    """On OpenMP thread 0, once next_look[0] has passed: whether a signal handler raised
    (its exception is then set). next_look is shared by the loop's threads; only thread 0
    reads or writes it."""
    cdef double now
    cdef int raised
    if omp_get_thread_num() != 0:
        return False
    now = monotonic_seconds()
    if now < next_look[0]:
        return False
    next_look[0] = now + 1e-3 * SIGNAL_INTERVAL_MS
    with gil:
        raised = _check_signals()
    return raised != 0


cdef inline int raise_pending() except -1:
    """Hands on the exception that signal_pending's handler set."""
    return -1
