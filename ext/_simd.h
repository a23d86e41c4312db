/* Vectorisable building blocks for the symmetry-function kernels.
 *
 * The symmetry-function cost is dominated by exponentials and cutoff functions evaluated
 * for every neighbour and every neighbour pair. libm's exp() is a call the compiler cannot
 * vectorise, so this header carries a branch-free exp (and sin/cos of pi*x) accurate to a
 * few ulp, and the inner loops over neighbours written with `omp simd` so that reductions
 * vectorise too (Cython cannot emit that pragma). Cython code (ext/_symmetry.pyx) drives
 * these loops; nothing here allocates or knows about atoms.
 *
 * Every loop has a fixed order for a given build, so results do not depend on threads.
 */
#ifndef FASTPOT_SIMD_H
#define FASTPOT_SIMD_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(_OPENMP) || defined(FASTPOT_OPENMP_SIMD)
#define FP_SIMD _Pragma("omp simd")
#define FP_SIMD_SUM(...) _Pragma(FP_STR(omp simd reduction(+:__VA_ARGS__)))
#else
#define FP_SIMD
#define FP_SIMD_SUM(...)
#endif
#define FP_STR(x) #x

/* exp(x) with relative error below ~2 ulp; 0 below -708 (as good as libm there for our
 * use: the terms are negligible). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a
 * degree-13 Taylor polynomial, then scaling by 2^n built from the exponent bits. */
#pragma omp declare simd notinbranch
static inline double fp_exp(double x) {
    const double log2e = 1.4426950408889634;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52: rounds to an integer */
    double xc = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
    double n = (xc * log2e + shifter) - shifter;
    double r = (xc - n * ln2_hi) - n * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int32_t ni = (int32_t) n;
    /* 2^n as two factors, so that n down to -1021 and up to 1023 stays a normal number */
    int32_t n1 = ni / 2;
    int32_t n2 = ni - n1;
    uint64_t b1 = (uint64_t) (int64_t) (n1 + 1023) << 52;
    uint64_t b2 = (uint64_t) (int64_t) (n2 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    double result = p * s1 * s2;
    return x < -708.0 ? 0.0 : result;
}

/* A network layer's tanh: t = tanh(z), d1 = 1 - t^2, d2 = -2 t d1 (the activation and the two
 * derivatives training needs), for m neurons. libm's tanh is a call per neuron that the
 * compiler cannot vectorise, about half of a small network's pass; this is
 * sign(z) (1 - e) / (1 + e) with e = exp(-2 |z|) from fp_exp (a series below |z| = 1/16), in
 * one vector loop, within a few ulp of libm's; NaN stays NaN. */
static inline void fp_tanh_block(int m, const double *z, double *t, double *d1, double *d2) {
    int k;
    FP_SIMD for (k = 0; k < m; k++) {
        double x = z[k];
        double ax = fabs(x);
        double e = fp_exp(-2.0 * (ax < 400.0 ? ax : 400.0));
        double v = copysign((1.0 - e) / (1.0 + e), x);
        /* below 1/16, where 1 - e cancels, the odd Taylor series (next term ~1e-17 relative) */
        double x2 = x * x;
        double series = x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0
                        + x2 * (62.0 / 2835.0 + x2 * (-1382.0 / 155925.0))))));
        v = ax < 0.0625 ? series : v;
        v = x == x ? v : x;
        t[k] = v;
        d1[k] = 1.0 - v * v;
        d2[k] = -2.0 * v * d1[k];
    }
}

/* sin(pi x) and cos(pi x) for x in [0, 1], Taylor series around the nearer of 0, 1/2, 1. */
static inline double fp_sin_series(double t) { /* sin(t), |t| <= pi/4 */
    double t2 = t * t;
    double p = -1.0 / 1307674368000.0;
    p = p * t2 + 1.0 / 6227020800.0;
    p = p * t2 - 1.0 / 39916800.0;
    p = p * t2 + 1.0 / 362880.0;
    p = p * t2 - 1.0 / 5040.0;
    p = p * t2 + 1.0 / 120.0;
    p = p * t2 - 1.0 / 6.0;
    return t + t * t2 * p;
}

static inline double fp_cos_series(double t) { /* cos(t), |t| <= pi/4 */
    double t2 = t * t;
    double p = 1.0 / 20922789888000.0;
    p = p * t2 - 1.0 / 87178291200.0;
    p = p * t2 + 1.0 / 479001600.0;
    p = p * t2 - 1.0 / 3628800.0;
    p = p * t2 + 1.0 / 40320.0;
    p = p * t2 - 1.0 / 720.0;
    p = p * t2 + 1.0 / 24.0;
    p = p * t2 - 0.5;
    return 1.0 + t2 * p;
}

/* cos(pi x) and sin(pi x) for x in [0, 1]. */
static inline void fp_cos_sin_pi(double x, double *c, double *s) {
    const double pi = 3.14159265358979323846;
    /* quadrant: x in [0,1/4]: around 0; [1/4,3/4]: around 1/2; [3/4,1]: around 1 */
    double near_half = (x > 0.25 && x < 0.75) ? 1.0 : 0.0;
    double near_one = x >= 0.75 ? 1.0 : 0.0;
    double centre = 0.5 * near_half + near_one;
    double t = pi * (x - centre);
    double st = fp_sin_series(t), ct = fp_cos_series(t);
    /* around 0: cos = ct, sin = st; around 1/2: cos = -st, sin = ct; around 1: cos = -ct,
     * sin = -st */
    *c = near_half > 0.0 ? -st : (near_one > 0.0 ? -ct : ct);
    *s = near_half > 0.0 ? ct : (near_one > 0.0 ? -st : st);
}

/* f_c(r) and df_c/dr for n2p2 cutoff type `kind` (N2P2_FORMAT.md §4), r[k] for k < m.
 * df may be NULL when only values are needed. */
static inline void fp_cutoff_block(int kind, int m, const double *r, double rc, double alpha,
                                   double *f, double *df) {
    const double rci = alpha * rc;
    const double width = rc - rci;
    const double inv_width = 1.0 / width;
    const double pi = 3.14159265358979323846;
    int k;
    switch (kind) {
    case 0:
        FP_SIMD for (k = 0; k < m; k++) f[k] = r[k] < rc ? 1.0 : 0.0;
        if (df) memset(df, 0, m * sizeof(double));
        return;
    case 2:
    case 3: {
        const double norm = kind == 3 ? 2.2637537952253504 : 1.0; /* 1 / tanh(1)^3 */
#define FP_TANH_LOOP(SLOPE)                                                       \
        FP_SIMD for (k = 0; k < m; k++) {                                         \
            double u = 1.0 - r[k] / rc;                                           \
            u = u > 0.0 ? u : 0.0;                                                \
            double e = fp_exp(-2.0 * u);                                          \
            double t = (1.0 - e) / (1.0 + e);                                     \
            double inside = r[k] < rc ? norm : 0.0;                               \
            f[k] = inside * t * t * t;                                            \
            SLOPE;                                                                \
        }
        if (df) {
            FP_TANH_LOOP(df[k] = -inside * 3.0 * t * t * (1.0 - t * t) / rc)
        } else {
            FP_TANH_LOOP((void) t)
        }
#undef FP_TANH_LOOP
        return;
    }
    default:
        break;
    }
    /* x-based types: one loop per type, so each loop holds only its own arithmetic. Loops
     * with and without slopes are separate: a test of df inside a vector loop becomes masked
     * stores through NULL, which cost a microcode assist per vector on AMD Zen 4. */
#define FP_X_BODY(VALUE, SLOPE)                                                   \
    FP_SIMD for (k = 0; k < m; k++) {                                             \
        double x = (r[k] - rci) * inv_width;                                      \
        double inside = r[k] < rc ? 1.0 : 0.0;                                    \
        double outer = r[k] < rci ? 0.0 : 1.0; /* 0 in the flat inner region */   \
        x = x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x);                                  \
        double value, slope;                                                      \
        VALUE;                                                                    \
        f[k] = inside * (outer > 0.0 ? value : 1.0);                              \
        SLOPE;                                                                    \
    }
#define FP_X_LOOP(VALUE, SLOPE)                                                   \
    if (df) {                                                                     \
        FP_X_BODY(VALUE, SLOPE; df[k] = inside * outer * slope * inv_width)       \
    } else {                                                                      \
        FP_X_BODY(VALUE, (void) inside)                                           \
    }
    switch (kind) {
    case 1:
        FP_X_LOOP(double c; double sn; fp_cos_sin_pi(x, &c, &sn); value = 0.5 * (c + 1.0);
                  slope = -0.5 * pi * sn, (void) 0)
        break;
    case 4:
        FP_X_LOOP(double xx = x < 0.9999999 ? x : 0.9999999; double t = 1.0 / (1.0 - xx * xx);
                  value = fp_exp(1.0 - t),
                  slope = -2.0 * xx * value * t * t)
        break;
    case 5:
        FP_X_LOOP(value = (2.0 * x - 3.0) * x * x + 1.0,
                  slope = 6.0 * x * x - 6.0 * x)
        break;
    case 6:
        FP_X_LOOP(value = ((15.0 - 6.0 * x) * x - 10.0) * x * x * x + 1.0,
                  slope = x * x * ((60.0 - 30.0 * x) * x - 30.0))
        break;
    case 7:
        FP_X_LOOP(value = (x * (x * (20.0 * x - 70.0) + 84.0) - 35.0) * x * x * x * x + 1.0,
                  slope = x * x * x * (x * (x * (140.0 * x - 420.0) + 420.0) - 140.0))
        break;
    default:
        FP_X_LOOP(value = (x * (x * ((315.0 - 70.0 * x) * x - 540.0) + 420.0) - 126.0)
                          * x * x * x * x * x + 1.0,
                  slope = x * x * x * x * (x * (x * ((2520.0 - 630.0 * x) * x - 3780.0)
                                                + 2520.0) - 630.0))
        break;
    }
#undef FP_X_LOOP
#undef FP_X_BODY
}

/* g[k] = exp(-eta (r - rs)^2) f[k] and its r-derivative dg[k] = e (df - 2 eta x f), given the
 * cutoff values f and slopes df (dg and df may be NULL together). g may alias f, dg df. */
static inline void fp_gaussian_times(int m, const double *r, double eta, double rs,
                                     const double *f, const double *df, double *g, double *dg) {
    int k;
    if (dg) {
        FP_SIMD for (k = 0; k < m; k++) {
            double x = r[k] - rs;
            double e = fp_exp(-eta * x * x);
            double fk = f[k];
            dg[k] = e * (df[k] - 2.0 * eta * x * fk);
            g[k] = e * fk;
        }
    } else {
        FP_SIMD for (k = 0; k < m; k++) {
            double x = r[k] - rs;
            g[k] = fp_exp(-eta * x * x) * f[k];
        }
    }
}

/* g[k] = exp(-eta (r - rs)^2) f_c(r) and its r-derivative dg[k] (dg may be NULL). */
static inline void fp_gaussian_cutoff_block(int kind, int m, const double *r, double eta,
                                            double rs, double rc, double alpha, double *g,
                                            double *dg) {
    fp_cutoff_block(kind, m, r, rc, alpha, g, dg);
    fp_gaussian_times(m, r, eta, rs, g, dg, g, dg);
}

static inline double fp_sum(int m, const double *x) {
    double sum = 0.0;
    int k;
    FP_SIMD_SUM(sum) for (k = 0; k < m; k++) sum += x[k];
    return sum;
}

/* The product of a group's three factors for each pair p and its partial derivatives:
 * T = Aj Ak B, Tj = dT/dR_j = dAj Ak B, Tk = Aj dAk B, Tjk = Aj Ak dB. B and dB are NULL for
 * wide (type 9) groups, which have no R_jk factor (then Tjk = 0). */
static inline void fp_pair_products(int m, const double *Aj, const double *dAj,
                                    const double *Ak, const double *dAk, const double *B,
                                    const double *dB, double *T, double *Tj, double *Tk,
                                    double *Tjk) {
    int p;
    if (B) {
        FP_SIMD for (p = 0; p < m; p++) {
            double AjAk = Aj[p] * Ak[p];
            T[p] = AjAk * B[p];
            Tj[p] = dAj[p] * Ak[p] * B[p];
            Tk[p] = Aj[p] * dAk[p] * B[p];
            Tjk[p] = AjAk * dB[p];
        }
    } else {
        FP_SIMD for (p = 0; p < m; p++) {
            T[p] = Aj[p] * Ak[p];
            Tj[p] = dAj[p] * Ak[p];
            Tk[p] = Aj[p] * dAk[p];
            Tjk[p] = 0.0;
        }
    }
}

/* For narrow groups with rs = 0 the three Gaussians of a pair combine into one,
 * exp(-eta (R_j^2 + R_k^2 + R_jk^2)), times the cutoff product F = fc_j fc_k fc_jk, which
 * all such groups of one rc share. fp_cutoff_products makes F and its partial derivatives
 * Pj = dfc_j fc_k fc_jk, Pk = fc_j dfc_k fc_jk, Pjk = fc_j fc_k dfc_jk (derivatives NULL:
 * F only); fp_narrow_products then gives a group's T and its derivatives from one
 * exponential per pair and no gathers (the same numbers as fp_pair_products). */
static inline void fp_cutoff_products(int m, const double *cj, const double *dcj,
                                      const double *ck, const double *dck, const double *cjk,
                                      const double *dcjk, double *F, double *Pj, double *Pk,
                                      double *Pjk) {
    int p;
    if (Pj) {
        FP_SIMD for (p = 0; p < m; p++) {
            double jk = cj[p] * ck[p];
            F[p] = jk * cjk[p];
            Pj[p] = dcj[p] * ck[p] * cjk[p];
            Pk[p] = cj[p] * dck[p] * cjk[p];
            Pjk[p] = jk * dcjk[p];
        }
    } else {
        FP_SIMD for (p = 0; p < m; p++) F[p] = cj[p] * ck[p] * cjk[p];
    }
}

/* T = e F, Tj = e (Pj - 2 eta R_j F), Tk = e (Pk - 2 eta R_k F), Tjk = e (Pjk - 2 eta R_jk F)
 * with e = exp(-eta S), S = R_j^2 + R_k^2 + R_jk^2 (Tj NULL: T only). */
static inline void fp_narrow_products(int m, double eta, const double *S, const double *Rj,
                                      const double *Rk, const double *Rjk, const double *F,
                                      const double *Pj, const double *Pk, const double *Pjk,
                                      double *T, double *Tj, double *Tk, double *Tjk) {
    const double two_eta = 2.0 * eta;
    int p;
    if (Tj) {
        FP_SIMD for (p = 0; p < m; p++) {
            double e = fp_exp(-eta * S[p]);
            double eF = e * F[p];
            T[p] = eF;
            Tj[p] = e * Pj[p] - two_eta * Rj[p] * eF;
            Tk[p] = e * Pk[p] - two_eta * Rk[p] * eF;
            Tjk[p] = e * Pjk[p] - two_eta * Rjk[p] * eF;
        }
    } else {
        FP_SIMD for (p = 0; p < m; p++) T[p] = fp_exp(-eta * S[p]) * F[p];
    }
}

/* S[p] = R_j^2 + R_k^2 + R_jk^2 of each pair, with Rj, Rk its neighbours' distances. */
static inline void fp_pair_squares(int m, const int64_t *jj, const int64_t *kk, const double *R,
                                   const double *Rjk, double *Rj, double *Rk, double *S) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) {
        double a = R[jj[p]], b = R[kk[p]];
        Rj[p] = a;
        Rk[p] = b;
        S[p] = a * a + b * b + Rjk[p] * Rjk[p];
    }
}

/* Add one group's contribution to the derivatives of S_i = sum_s c_s G_s for each pair p,
 * given Q = sum over members of c_s 2^(1-zeta) P^zeta and Qc the same with the cos-derivative
 * of P^zeta: Sc += Qc T, Sj += Q Tj, Sk += Q Tk, Sjk += Q Tjk. */
static inline void fp_angular_accumulate(int m, const double *T, const double *Tj,
                                         const double *Tk, const double *Tjk, const double *Q,
                                         const double *Qc, double *Sc, double *Sj, double *Sk,
                                         double *Sjk) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) {
        Sc[p] += Qc[p] * T[p];
        Sj[p] += Q[p] * Tj[p];
        Sk[p] += Q[p] * Tk[p];
        Sjk[p] += Q[p] * Tjk[p];
    }
}

/* For each pair p = (j[p], k[p]) of neighbours (vectors X, Y, Z, reciprocal lengths inv_R),
 * turn the derivatives with respect to cos, R_j, R_k, R_jk into gradients with respect to D_j
 * and D_k, and add them to the neighbours' gradients gx, gy, gz. inv_Rjk holds 1 / R_jk (0
 * for R_jk = 0), or is NULL: no R_jk dependence. Reciprocals come precomputed because
 * divisions made this loop divide-bound. The per-pair vectors are computed in a vector loop
 * into out[6 * m] rows, then added in a fixed order (several pairs share a neighbour). */
static inline void fp_angular_scatter(int m, const int64_t *jj, const int64_t *kk,
                                      const double *inv_R, const double *X, const double *Y,
                                      const double *Z, const double *cosv,
                                      const double *inv_Rjk, const double *Sc,
                                      const double *Sj, const double *Sk, const double *Sjk,
                                      double *out, double *gx, double *gy, double *gz) {
    double *ox = out, *oy = out + m, *oz = out + 2 * m;
    double *px = out + 3 * m, *py = out + 4 * m, *pz = out + 5 * m;
    int p;
    /* One loop for each case rather than `inv_Rjk ? ... : 0` inside a loop: the compiler
     * turns that into masked loads from the NULL pointer, whose fault suppression cost a
     * microcode assist per vector (most of this function's time on AMD Zen 4). */
#define FP_SCATTER_LOOP(S_OF_P)                                                   \
    FP_SIMD for (p = 0; p < m; p++) {                                             \
        int64_t j = jj[p], k = kk[p];                                             \
        double inv_j = inv_R[j], inv_k = inv_R[k];                                \
        double c = Sc[p] * inv_j * inv_k;                                         \
        double tj = (Sj[p] - Sc[p] * cosv[p] * inv_j) * inv_j;                    \
        double tk = (Sk[p] - Sc[p] * cosv[p] * inv_k) * inv_k;                    \
        double s = S_OF_P;                                                        \
        double xj = X[j], yj = Y[j], zj = Z[j], xk = X[k], yk = Y[k], zk = Z[k];  \
        double dx = xk - xj, dy = yk - yj, dz = zk - zj;                          \
        ox[p] = c * xk + tj * xj - s * dx;                                        \
        oy[p] = c * yk + tj * yj - s * dy;                                        \
        oz[p] = c * zk + tj * zj - s * dz;                                        \
        px[p] = c * xj + tk * xk + s * dx;                                        \
        py[p] = c * yj + tk * yk + s * dy;                                        \
        pz[p] = c * zj + tk * zk + s * dz;                                        \
    }
    if (inv_Rjk) {
        FP_SCATTER_LOOP(Sjk[p] * inv_Rjk[p])
    } else {
        FP_SCATTER_LOOP(0.0)
    }
#undef FP_SCATTER_LOOP
    /* pairs come in runs of equal j (they are made j by j): sum each run once */
    p = 0;
    while (p < m) {
        int64_t j = jj[p];
        int q = p, r;
        double sx = 0.0, sy = 0.0, sz = 0.0;
        while (q < m && jj[q] == j) q++;
        FP_SIMD_SUM(sx, sy, sz) for (r = p; r < q; r++) {
            sx += ox[r];
            sy += oy[r];
            sz += oz[r];
        }
        gx[j] += sx;
        gy[j] += sy;
        gz[j] += sz;
        for (r = p; r < q; r++) {
            int64_t k = kk[r];
            gx[k] += px[r];
            gy[k] += py[r];
            gz[k] += pz[r];
        }
        p = q;
    }
}

/* For pairs p = (j[p], k[p]): cos(theta_jk) = D_j.D_k / (R_j R_k) from the reciprocal
 * lengths inv_R, and R_jk = sqrt of the squared distance stored in r2_to_rjk (replaced in
 * place). */
static inline void fp_pair_geometry(int m, const int64_t *jj, const int64_t *kk,
                                    const double *inv_R, const double *X, const double *Y,
                                    const double *Z, double *cosv, double *r2_to_rjk) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) {
        int64_t j = jj[p], k = kk[p];
        cosv[p] = (X[j] * X[k] + Y[j] * Y[k] + Z[j] * Z[k]) * (inv_R[j] * inv_R[k]);
        r2_to_rjk[p] = sqrt(r2_to_rjk[p]);
    }
}

/* x[p] = 1 / x[p] where x[p] > 0, else 0 (in place) */
static inline void fp_reciprocal_positive(int m, double *x) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) x[p] = x[p] > 0.0 ? 1.0 / x[p] : 0.0;
}

/* dst[p] = src[index[p]] */
static inline void fp_take(int m, const double *src, const int64_t *index, double *dst) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) dst[p] = src[index[p]];
}

/* P^n for an integer 0 <= n < 128 that is the same in every lane: square-and-multiply over
 * a fixed number of bits with selects instead of branches, so that loops calling it
 * vectorise (a data-dependent while loop here kept the whole loop scalar). */
static inline double fp_int_power(double P, int n) {
    double result = 1.0;
    double base = P;
    int bit;
    for (bit = 0; bit < 7; bit++) {
        result *= ((n >> bit) & 1) ? base : 1.0;
        base *= base;
    }
    return result;
}

/* The angular powers of a batch, shared by every function with this (lambda, zeta):
 * Pz[p] = P^zeta and dPz[p] = zeta lambda P^(zeta-1), both 0 where P = 1 + lambda cos <= 0. */
static inline void fp_angular_powers(int m, const double *cosv, double lambda, double zeta,
                                     int izeta, double *Pz, double *dPz) {
    int p;
    const double zl = zeta * lambda;
    if (izeta >= 1 && dPz == NULL) {
        FP_SIMD for (p = 0; p < m; p++) {
            double P = 1.0 + lambda * cosv[p];
            Pz[p] = P > 0.0 ? fp_int_power(P, izeta) : 0.0;
        }
    } else if (izeta == 1) {
        FP_SIMD for (p = 0; p < m; p++) {
            double P = 1.0 + lambda * cosv[p];
            double on = P > 0.0 ? 1.0 : 0.0;
            Pz[p] = on * P;
            dPz[p] = on * zl;
        }
    } else if (izeta >= 0) {
        FP_SIMD for (p = 0; p < m; p++) {
            double P = 1.0 + lambda * cosv[p];
            double Pz1 = fp_int_power(P, izeta - 1);
            double on = P > 0.0 ? 1.0 : 0.0;
            Pz[p] = on * Pz1 * P;
            dPz[p] = on * zl * Pz1;
        }
    } else {
        for (p = 0; p < m; p++) {
            double P = 1.0 + lambda * cosv[p];
            if (P > 0.0) {
                double Pz1 = pow(P, zeta - 1.0);
                Pz[p] = Pz1 * P;
                if (dPz) dPz[p] = zl * Pz1;
            } else {
                Pz[p] = 0.0;
                if (dPz) dPz[p] = 0.0;
            }
        }
    }
}

static inline double fp_dot(int m, const double *x, const double *y) {
    double sum = 0.0;
    int p;
    FP_SIMD_SUM(sum) for (p = 0; p < m; p++) sum += x[p] * y[p];
    return sum;
}

/* y += a x */
static inline void fp_axpy(int m, double a, const double *x, double *y) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) y[p] += a * x[p];
}

/* y1 += a x1, y2 += a x2 */
static inline void fp_axpy2(int m, double a, const double *x1, const double *x2, double *y1,
                            double *y2) {
    int p;
    FP_SIMD for (p = 0; p < m; p++) {
        y1[p] += a * x1[p];
        y2[p] += a * x2[p];
    }
}

#endif
