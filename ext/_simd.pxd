# Declarations of the vector building blocks in _simd.h (see that file).
from libc.stdint cimport int64_t


cdef extern from "_simd.h" nogil:
    void fp_cutoff_block(int kind, int m, const double *r, double rc, double alpha, double *f,
                         double *df)
    void fp_gaussian_times(int m, const double *r, double eta, double rs, const double *f,
                           const double *df, double *g, double *dg)
    void fp_gaussian_cutoff_block(int kind, int m, const double *r, double eta, double rs,
                                  double rc, double alpha, double *g, double *dg)
    double fp_sum(int m, const double *x)
    void fp_pair_products(int m, const double *Aj, const double *dAj, const double *Ak,
                          const double *dAk, const double *B, const double *dB, double *T,
                          double *Tj, double *Tk, double *Tjk)
    void fp_cutoff_products(int m, const double *cj, const double *dcj, const double *ck,
                            const double *dck, const double *cjk, const double *dcjk,
                            double *F, double *Pj, double *Pk, double *Pjk)
    void fp_narrow_products(int m, double eta, const double *S, const double *Rj,
                            const double *Rk, const double *Rjk, const double *F,
                            const double *Pj, const double *Pk, const double *Pjk, double *T,
                            double *Tj, double *Tk, double *Tjk)
    void fp_pair_squares(int m, const int64_t *jj, const int64_t *kk, const double *R,
                         const double *Rjk, double *Rj, double *Rk, double *S)
    void fp_angular_accumulate(int m, const double *T, const double *Tj, const double *Tk,
                               const double *Tjk, const double *Q, const double *Qc, double *Sc,
                               double *Sj, double *Sk, double *Sjk)
    void fp_angular_scatter(int m, const int64_t *jj, const int64_t *kk, const double *inv_R,
                            const double *X, const double *Y, const double *Z,
                            const double *cosv, const double *inv_Rjk, const double *Sc,
                            const double *Sj, const double *Sk, const double *Sjk, double *out,
                            double *gx, double *gy, double *gz)
    void fp_take(int m, const double *src, const int64_t *index, double *dst)
    void fp_reciprocal_positive(int m, double *x)
    void fp_pair_geometry(int m, const int64_t *jj, const int64_t *kk, const double *inv_R,
                          const double *X, const double *Y, const double *Z, double *cosv,
                          double *r2_to_rjk)
    void fp_angular_powers(int m, const double *cosv, double lam, double zeta, int izeta,
                           double *Pz, double *dPz)
    double fp_dot(int m, const double *x, const double *y)
    void fp_axpy(int m, double a, const double *x, double *y)
    void fp_axpy2(int m, double a, const double *x1, const double *x2, double *y1, double *y2)
    void fp_tanh_block(int m, const double *z, double *t, double *d1, double *d2)
