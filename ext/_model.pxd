from _contract cimport Model


cdef class ModelData:
    cdef Model m
    cdef list keep          # the arrays `m` points into
