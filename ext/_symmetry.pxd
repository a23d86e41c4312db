from _contract cimport Tables


cdef class SymmetryTables:
    cdef Tables t
    cdef readonly dict arrays       # the arrays `t` points into
    cdef readonly int max_factors
    cdef readonly int max_powers
