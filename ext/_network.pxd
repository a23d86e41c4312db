from _contract cimport Net


cdef class NetLayout:
    cdef Net net
    cdef readonly object size, act, scale, woff, boff   # the arrays `net` points into
