# Declarations of the compact-function building blocks in _compact.h (see that file).
cdef extern from "_compact.h" nogil:
    void fp_compact_block(int m, const double *t, double left, double right, int core,
                          int asym, double *f, double *df)
    void fp_pair_angles(int m, const double *cosv, double *theta, double *dtheta,
                        double *valid)
    double fp_acos(double x)
