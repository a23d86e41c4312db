# Cutoff functions f_c(r) and their derivatives, n2p2's nine types (N2P2_FORMAT.md §4).
#
# r_ci = alpha * rc is the inner cutoff: f_c = 1 below it for the x-based types, with
# x = (r - r_ci) / (rc - r_ci). Every type is 0 (with zero slope) at and beyond rc.
from libc.math cimport cos, sin, exp, tanh, M_PI

cdef enum CutoffType:
    CT_HARD = 0
    CT_COS = 1
    CT_TANHU = 2
    CT_TANH = 3
    CT_EXP = 4
    CT_POLY1 = 5
    CT_POLY2 = 6
    CT_POLY3 = 7
    CT_POLY4 = 8

# 1 / tanh(1)^3 = ((e + 1/e) / (e - 1/e))^3: normalises type 3 to f_c(0) = 1
cdef inline double tanh_norm() noexcept nogil:
    return 2.2637537952253504

cdef inline double cutoff_value(int kind, double r, double rc, double alpha,
                                double *derivative) noexcept nogil:
    """f_c(r); its derivative df_c/dr goes to *derivative."""
    cdef double rci, x, f, t, width
    if r >= rc:
        derivative[0] = 0.0
        return 0.0
    if kind == CT_HARD:
        derivative[0] = 0.0
        return 1.0
    if kind == CT_TANHU or kind == CT_TANH:
        t = tanh(1.0 - r / rc)
        f = t * t * t
        derivative[0] = -3.0 * t * t * (1.0 - t * t) / rc
        if kind == CT_TANH:
            derivative[0] *= tanh_norm()
            return tanh_norm() * f
        return f
    rci = alpha * rc
    if r < rci:
        derivative[0] = 0.0
        return 1.0
    width = rc - rci
    x = (r - rci) / width
    if kind == CT_COS:
        derivative[0] = -0.5 * M_PI * sin(M_PI * x) / width
        return 0.5 * (cos(M_PI * x) + 1.0)
    if kind == CT_EXP:
        t = 1.0 / (1.0 - x * x)
        f = exp(1.0 - t)
        derivative[0] = -2.0 * x * f * t * t / width
        return f
    if kind == CT_POLY1:
        derivative[0] = (6.0 * x * x - 6.0 * x) / width
        return (2.0 * x - 3.0) * x * x + 1.0
    if kind == CT_POLY2:
        derivative[0] = x * x * ((60.0 - 30.0 * x) * x - 30.0) / width
        return ((15.0 - 6.0 * x) * x - 10.0) * x * x * x + 1.0
    if kind == CT_POLY3:
        derivative[0] = x * x * x * (x * (x * (140.0 * x - 420.0) + 420.0) - 140.0) / width
        return (x * (x * (20.0 * x - 70.0) + 84.0) - 35.0) * x * x * x * x + 1.0
    # CT_POLY4
    derivative[0] = (x * x * x * x * (x * (x * ((2520.0 - 630.0 * x) * x - 3780.0) + 2520.0)
                                      - 630.0) / width)
    return (x * (x * ((315.0 - 70.0 * x) * x - 540.0) + 420.0) - 126.0) * x * x * x * x * x + 1.0
