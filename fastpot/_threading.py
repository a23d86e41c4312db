"""The one thread knob: every compute call takes ``n_threads=None`` and resolves it here."""
import operator

from fastpot._threads import max_threads, openmp_enabled


def resolve_threads(n_threads=None):
    """Number of OpenMP threads a kernel should use.

    ``None`` means OpenMP's default team size, which honours ``OMP_NUM_THREADS``.
    Without OpenMP every kernel runs on one thread, whatever is asked.
    """
    if n_threads is None:
        n = max_threads()
    else:
        try:
            n = operator.index(n_threads)
        except TypeError:
            raise TypeError(f"n_threads must be a positive integer or None, got {n_threads!r}") from None
        if n < 1:
            raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    if not openmp_enabled():
        return 1
    return int(n)
