/* Vectorisable building blocks of the polynomial ("compact") symmetry functions of Bircher
 * et al. 2021 (n2p2 types 20-25) and of the factored kernel (ext/kernels/_sf_factored.pyx):
 * the compact bump functions of a distance or an angle, and an arccos that vectorises
 * (libm's acos is a call, which keeps a whole pair loop scalar).
 *
 * A compact function on the interval (left, right) is core(|a|) with a = (t - c) / w,
 * c = (left + right) / 2, w = (right - left) / 2: 1 at the centre, 0 at both ends and
 * outside. Cores (n2p2's CoreFunction): 1-4 are the polynomials POLY1-POLY4 (C^n smooth),
 * 0 is e exp(1 / (x^2 - 1)). The "asymmetric" variant (n2p2 subtype pNa) evaluates the
 * core at u = x (2 - x). The Horner forms are n2p2's, so small values round alike.
 * ext/kernels/n2p2_types_12_to_25.md has the definitions.
 */
#ifndef FASTPOT_COMPACT_H
#define FASTPOT_COMPACT_H

#include "_simd.h"

enum { FP_CORE_EXP = 0, FP_CORE_POLY1 = 1, FP_CORE_POLY2 = 2, FP_CORE_POLY3 = 3,
       FP_CORE_POLY4 = 4 };

/* arccos(x) for x in [-1, 1], within ~1 ulp. With z = x^2 (|x| <= 1/2) or z = (1 - |x|) / 2
 * (otherwise, where 1 - |x| is exact) and y = x or sqrt(z): asin(y) = y + y z g(z), where g
 * is a degree-14 polynomial fitted to (asin(sqrt z) / sqrt z - 1) / z on [0, 1/4]
 * (Chebyshev fit with mpmath at 50 digits, relative error 4e-19), and
 * acos(x) = pi/2 - asin(x), 2 asin(sqrt z) or pi - 2 asin(sqrt z). Branch-free. */
#pragma omp declare simd notinbranch
static inline double fp_acos(double x) {
    const double pio2_hi = 1.57079632679489655800e+00, pio2_lo = 6.12323399573676603587e-17;
    const double pi_hi = 3.14159265358979311600e+00, pi_lo = 1.22464679914735317720e-16;
    double ax = fabs(x);
    int small = ax <= 0.5;
    double z = small ? x * x : 0.5 * (1.0 - ax);
    double y = small ? x : sqrt(z);
    double g = 3.07187689951910967e-02;
    g = g * z - 2.40205449185546052e-02;
    g = g * z + 2.25535636382029822e-02;
    g = g * z + 3.80853033290725978e-04;
    g = g * z + 8.79500607648842948e-03;
    g = g * z + 8.13582992550165689e-03;
    g = g * z + 9.79275132020199571e-03;
    g = g * z + 1.15490866129874248e-02;
    g = g * z + 1.39650099320536066e-02;
    g = g * z + 1.73527574778197871e-02;
    g = g * z + 2.23721592796799797e-02;
    g = g * z + 3.03819444413638076e-02;
    g = g * z + 4.46428571428834006e-02;
    g = g * z + 7.49999999999999140e-02;
    g = g * z + 1.66666666666666657e-01;
    double tail = y * z * g; /* asin(y) = y + tail */
    double near_one = 2.0 * y + 2.0 * tail;
    double near_minus_one = (pi_hi - 2.0 * y) + (pi_lo - 2.0 * tail);
    double middle = pio2_hi - (y - (pio2_lo - tail));
    return small ? middle : (x > 0.0 ? near_one : near_minus_one);
}

/* core(u) and core'(u) for u in [0, 1] (u clamped by the caller). */
#define FP_CORE_POLY1_F(u) ((2.0 * (u) - 3.0) * (u) * (u) + 1.0)
#define FP_CORE_POLY1_D(u) ((u) * (6.0 * (u) - 6.0))
#define FP_CORE_POLY2_F(u) ((((15.0 - 6.0 * (u)) * (u) - 10.0) * (u) * (u) * (u)) + 1.0)
#define FP_CORE_POLY2_D(u) ((u) * (u) * ((60.0 - 30.0 * (u)) * (u) - 30.0))
#define FP_CORE_POLY3_F(u) \
    (((u) * ((u) * (20.0 * (u) - 70.0) + 84.0) - 35.0) * (u) * (u) * (u) * (u) + 1.0)
#define FP_CORE_POLY3_D(u) \
    ((u) * (u) * (u) * ((u) * ((u) * (140.0 * (u) - 420.0) + 420.0) - 140.0))
#define FP_CORE_POLY4_F(u) \
    (((u) * ((u) * ((315.0 - 70.0 * (u)) * (u) - 540.0) + 420.0) - 126.0) \
     * (u) * (u) * (u) * (u) * (u) + 1.0)
#define FP_CORE_POLY4_D(u) \
    ((u) * (u) * (u) * (u) * ((u) * ((u) * ((2520.0 - 630.0 * (u)) * (u) - 3780.0) \
                                     + 2520.0) - 630.0))

/* f[k] = C(t[k]) and df[k] = C'(t[k]) of the compact function of `core` on (left, right),
 * asymmetric when `asym`; 0 (both) unless left < t[k] < right. df may be NULL. f may alias
 * nothing else. */
static inline void fp_compact_block(int m, const double *t, double left, double right,
                                    int core, int asym, double *f, double *df) {
    const double centre = 0.5 * (left + right);
    const double scale = 1.0 / (0.5 * (right - left));
    const double e = 2.71828182845904523536;
    int k;
    /* one loop per (core, asym, slopes): each holds only its own arithmetic */
#define FP_COMPACT_LOOP(VALUE, SLOPE, U, DU)                                       \
    FP_SIMD for (k = 0; k < m; k++) {                                              \
        double a = (t[k] - centre) * scale;                                        \
        double x = fabs(a);                                                        \
        double inside = (t[k] > left && t[k] < right) ? 1.0 : 0.0;                 \
        x = x < 1.0 ? x : 1.0;                                                     \
        double u = U, du = DU;                                                     \
        double value, slope;                                                       \
        VALUE;                                                                     \
        f[k] = inside * value;                                                     \
        SLOPE;                                                                     \
    }
#define FP_COMPACT_SLOPES(VALUE, SLOPE, U, DU)                                     \
    if (df) {                                                                      \
        FP_COMPACT_LOOP(VALUE, SLOPE; df[k] = inside * copysign(scale, a) * du * slope, \
                        U, DU)                                                     \
    } else {                                                                       \
        FP_COMPACT_LOOP(VALUE, (void) du, U, DU)                                   \
    }
#define FP_COMPACT_SHAPES(VALUE, SLOPE)                                            \
    if (asym) {                                                                    \
        FP_COMPACT_SLOPES(VALUE, SLOPE, x * (2.0 - x), 2.0 - 2.0 * x)              \
    } else {                                                                       \
        FP_COMPACT_SLOPES(VALUE, SLOPE, x, 1.0)                                    \
    }
    switch (core) {
    case FP_CORE_POLY1:
        FP_COMPACT_SHAPES(value = FP_CORE_POLY1_F(u), slope = FP_CORE_POLY1_D(u))
        break;
    case FP_CORE_POLY2:
        FP_COMPACT_SHAPES(value = FP_CORE_POLY2_F(u), slope = FP_CORE_POLY2_D(u))
        break;
    case FP_CORE_POLY3:
        FP_COMPACT_SHAPES(value = FP_CORE_POLY3_F(u), slope = FP_CORE_POLY3_D(u))
        break;
    case FP_CORE_POLY4:
        FP_COMPACT_SHAPES(value = FP_CORE_POLY4_F(u), slope = FP_CORE_POLY4_D(u))
        break;
    default:
        /* e exp(1 / (u^2 - 1)); u kept below 1 so that the reciprocal stays finite (the
         * exponential is 0 there long before) */
        FP_COMPACT_SHAPES(double uu = u < 0.9999999 ? u : 0.9999999;
                          double r = 1.0 / (uu * uu - 1.0); value = e * fp_exp(r),
                          slope = -2.0 * uu * r * r * value)
        break;
    }
#undef FP_COMPACT_SHAPES
#undef FP_COMPACT_SLOPES
#undef FP_COMPACT_LOOP
}

/* theta[p] = arccos(cosv[p]) and, when dtheta is not NULL, dtheta[p] = d theta / d cos =
 * -1 / sqrt(1 - cos^2); valid[p] = 1 where -1 < cos < 1 (n2p2 skips exactly collinear
 * triples), else 0 (and dtheta 0). */
static inline void fp_pair_angles(int m, const double *cosv, double *theta, double *dtheta,
                                  double *valid) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) {
        double c = cosv[p];
        double c_in = c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c);
        double ok = (c > -1.0 && c < 1.0) ? 1.0 : 0.0;
        theta[p] = fp_acos(c_in);
        valid[p] = ok;
    }
    if (dtheta) {
        FP_SIMD for (p = 0; p < m; p++) {
            double c = cosv[p];
            double s2 = 1.0 - c * c;
            dtheta[p] = valid[p] > 0.0 ? -1.0 / sqrt(s2 > 0.0 ? s2 : 1.0) : 0.0;
        }
    }
}

#endif
