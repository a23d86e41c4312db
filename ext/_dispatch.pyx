"""Which instruction-set variant of the hot kernels runs (ext/kernels/, compiled once per
variant), and the one place where a kernel's Status becomes a Python exception.

fastpot/_kernels/__init__.py chooses the variant at import and installs its KernelTable here;
every compiled caller reaches the kernels through `kernels()`.
"""
from cpython.exc cimport PyErr_Occurred
from cpython.pycapsule cimport PyCapsule_GetPointer

from _contract cimport *
from _committee cimport CommitteeEvaluate

cdef const KernelTable *ACTIVE = NULL
cdef CommitteeEvaluate COMMITTEE = NULL
cdef object ACTIVE_MODULE = None

# The status codes of ext/_contract.pxd, for the Python layer.
STATUS = {"OK": STATUS_OK, "NO_MEMORY": STATUS_NO_MEMORY,
          "TOO_MANY_PAIRS": STATUS_TOO_MANY_PAIRS, "INVALID": STATUS_INVALID,
          "INTERRUPTED": STATUS_INTERRUPTED}


def install(module):
    """Make `module` (a variant's _fused module) the one every kernel call goes through."""
    global ACTIVE, ACTIVE_MODULE, COMMITTEE
    ACTIVE = <const KernelTable *> PyCapsule_GetPointer(module.kernel_table(),
                                                         b"fastpot.KernelTable")
    COMMITTEE = <CommitteeEvaluate> PyCapsule_GetPointer(module.committee_kernel(),
                                                         b"fastpot.committee_evaluate")
    ACTIVE_MODULE = module  # keeps the variant's code loaded


def table_address():
    """Address of the installed KernelTable, for the C API (0 when none is installed)."""
    return <size_t> ACTIVE


def active():
    """Name of the installed variant, or None."""
    return None if ACTIVE == NULL else ACTIVE.name.decode()


cdef const KernelTable *kernels() except NULL:
    if ACTIVE == NULL:
        raise RuntimeError("no kernel variant installed (fastpot._kernels was not imported)")
    return ACTIVE


cdef CommitteeEvaluate committee_kernel() except NULL:
    if COMMITTEE == NULL:
        raise RuntimeError("no kernel variant installed (fastpot._kernels was not imported)")
    return COMMITTEE


cdef int check(int status, const Error *error) except -1:
    """Raise the exception that matches a kernel's status; 0 when it succeeded."""
    if status == STATUS_OK:
        return 0
    if status == STATUS_INTERRUPTED:
        if PyErr_Occurred() == NULL:  # a handler that raised nothing: still an interrupt
            raise KeyboardInterrupt
        return -1                     # the signal handler's exception, set by the kernel
    if error != NULL and error.code != STATUS_OK:
        message = error.message.decode("utf-8", "replace")
    else:
        message = f"kernel failed with status {status}"
    if status == STATUS_NO_MEMORY:
        raise MemoryError(message)
    if status == STATUS_TOO_MANY_PAIRS or status == STATUS_INVALID:
        raise ValueError(message)
    raise RuntimeError(message)
