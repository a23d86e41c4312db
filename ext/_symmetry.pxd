from _contract cimport Factored, Tables


cdef class SymmetryTables:
    cdef Tables t
    cdef Factored factored
    cdef readonly dict arrays       # the arrays `t` points into
    cdef readonly dict factored_arrays  # ... and `factored` (None without such functions)
    cdef readonly int max_factors
    cdef readonly int max_powers
    cdef _set_factored(self, dict arrays)
