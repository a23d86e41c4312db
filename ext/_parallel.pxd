# One parallel skeleton for every kernel that loops over independent work items (atoms,
# chunks of atoms): per-thread scratch made once by `init`, items handed out in chunks,
# scratch released by `finish`, failure reported through one Error. Each item must write only
# its own outputs, so results do not depend on the number of threads.
from libc.stdint cimport int64_t
from libc.stdio cimport snprintf
from cython.parallel cimport parallel, prange

from _contract cimport (Error, ERROR_MESSAGE_SIZE, STATUS_OK, STATUS_NO_MEMORY,
                       STATUS_INTERRUPTED)
from _interrupt cimport first_look, signal_pending

# scratch for one thread (NULL: out of memory); None of these may touch Python objects
ctypedef void *(*ThreadInit)(const void *context) noexcept nogil
ctypedef int (*ItemWork)(const void *context, void *scratch, int64_t item) noexcept nogil
ctypedef void (*ThreadFinish)(const void *context, void *scratch) noexcept nogil


cdef inline int fail(Error *error, int code, const char *what,
                     const char *problem) noexcept nogil:
    """Record `code` with the message "what: problem"; returns code."""
    if error != NULL and error.code == STATUS_OK:
        error.code = code
        snprintf(error.message, ERROR_MESSAGE_SIZE, "%s: %s", what, problem)
    return code


cdef inline int team_size(int64_t n_items, int64_t chunk, int n_threads) noexcept nogil:
    """Threads worth starting: never more than there are chunks of work."""
    cdef int64_t chunks = (n_items + chunk - 1) // chunk
    if chunks < n_threads:
        return <int> chunks if chunks > 0 else 1
    return n_threads if n_threads > 0 else 1


cdef inline int parallel_for(int64_t n_items, int64_t chunk, int n_threads, ThreadInit init,
                             ItemWork work, ThreadFinish finish, const void *context,
                             const char *what, Error *error) noexcept nogil:
    """work(context, scratch, item) for item in 0..n_items-1, dynamically scheduled in chunks
    of `chunk` items. Returns STATUS_OK or the failing status (recorded in `error`);
    STATUS_INTERRUPTED when a signal arrived (ext/_interrupt.pxd)."""
    cdef int64_t item
    cdef int status[1]
    cdef int code
    cdef void *scratch = NULL
    cdef double next_look[1]
    status[0] = STATUS_OK
    next_look[0] = first_look()
    with parallel(num_threads=team_size(n_items, chunk, n_threads)):
        scratch = NULL
        if init != NULL:
            scratch = init(context)
        for item in prange(n_items, schedule="dynamic", chunksize=chunk):
            if init != NULL and scratch == NULL:
                status[0] = STATUS_NO_MEMORY
                continue
            if status[0] != STATUS_OK:
                continue
            code = work(context, scratch, item)
            if code != STATUS_OK:
                status[0] = code
            elif signal_pending(next_look):
                status[0] = STATUS_INTERRUPTED
        if finish != NULL and scratch != NULL:
            finish(context, scratch)
    if status[0] == STATUS_INTERRUPTED:
        return STATUS_INTERRUPTED
    if status[0] == STATUS_NO_MEMORY:
        return fail(error, STATUS_NO_MEMORY, what, "cannot allocate per-thread work arrays")
    if status[0] != STATUS_OK:
        return fail(error, status[0], what, "a work item failed")
    return STATUS_OK
