# Network kernels of one instruction-set variant (ext/kernels/_net.pyx).
from libc.stdint cimport int64_t

from _contract cimport Error, Net


cdef void atom_forward(const Net *net, const double *w, const double *x, double *z, double *a,
                       double *d1, double *d2) noexcept nogil
cdef void atom_input_gradient(const Net *net, const double *w, const double *d1, double *delta,
                              double *grad) noexcept nogil
cdef int net_evaluate(const Net *net, const double *weights, int64_t n, const double *x,
                      double *y, double *dydx, int n_threads, Error *error) noexcept nogil
cdef int net_weight_gradient(const Net *net, const double *weights, int64_t n,
                             const double *x, const double *c, const double *d,
                             const double *v, double *gradient, int n_threads,
                             Error *error) noexcept nogil
