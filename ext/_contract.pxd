# The kernel contract: the C types every compiled kernel agrees on (declarations only, so
# cimporting this file links nothing).
#
# - PairList: a CSR neighbour list (fastpot/neighbors.py builds it, ext/_neighbors.pyx owns it).
# - Error: how every kernel reports failure: it returns a Status code and, when the pointer is
#   not NULL, writes the same code and a message into the Error (fastpot/_kernels/__init__.py
#   turns that into a Python exception).
# - Tables, Net, Model: the read-only numbers of symmetry functions, networks and a whole
#   potential, laid out for the kernels.
# - KernelTable: the entry points of one instruction-set variant of the hot kernels
#   (ext/kernels/, compiled once per variant); the Python layer installs the one this CPU can
#   run (ext/_dispatch.pyx) and every caller goes through it.
from libc.stdint cimport int32_t, int64_t

# Status codes, mirrored in Python by fastpot._kernels.Status.
cdef enum:
    STATUS_OK = 0
    STATUS_NO_MEMORY = 1
    STATUS_TOO_MANY_PAIRS = 2
    STATUS_INVALID = 3
    STATUS_INTERRUPTED = 4    # a signal (Ctrl-C) arrived; its exception is set (ext/_interrupt.pxd)

# MD ensembles, mirrored by fastpot.md.ENSEMBLES.
cdef enum:
    ENSEMBLE_NVE = 0
    ENSEMBLE_LANGEVIN = 1
    ENSEMBLE_NOSE_HOOVER = 2
    ENSEMBLE_NPT = 3

# Network activations: n2p2's letters, as character codes (fastpot.network.ACTIVATIONS).
cdef enum:
    ACTIVATION_LINEAR = 108          # 'l'
    ACTIVATION_TANH = 116            # 't'
    ACTIVATION_LOGISTIC = 115        # 's'
    ACTIVATION_SOFTPLUS = 112        # 'p'
    ACTIVATION_RELU = 114            # 'r'
    ACTIVATION_GAUSSIAN = 103        # 'g'
    ACTIVATION_COS = 99              # 'c'
    ACTIVATION_REVERSE_LOGISTIC = 83 # 'S'
    ACTIVATION_EXP = 101             # 'e'
    ACTIVATION_HARMONIC = 104        # 'h'

cdef enum:
    ERROR_MESSAGE_SIZE = 256
    MODEL_MAX_ELEMENTS = 128


ctypedef struct Error:
    int code
    char message[ERROR_MESSAGE_SIZE]


ctypedef struct PairList:
    int64_t n_atoms
    int64_t n_entries
    int64_t max_row            # entries of the longest row (sizes per-centre scratch)
    const int64_t *offsets     # [n_atoms + 1]: row i is offsets[i]..offsets[i + 1]
    const int32_t *neighbors   # [n_entries] atom j
    const int32_t *shifts      # [n_entries][3] lattice shift S
    double *vectors            # [n_entries][3] D = r_j - r_i + S cell
    double *distances          # [n_entries] |D|
    const int64_t *incoming_offsets  # [n_atoms + 1]: entries whose neighbour is atom a,
    const int64_t *incoming          # in increasing entry order (the transposed list)


# Symmetry functions in factored form (ext/kernels/_sf_factored.pyx): n2p2 types 12, 13 and
# 20-25. Every function is a sum over neighbours of a per-neighbour radial factor F(R), or a
# sum over neighbour pairs of F(R_j) F(R_k) [F(R_jk)] times an angular factor of the pair.
cdef enum:
    FACTOR_GAUSSIAN = 0     # exp(-eta (R - rs)^2) f_c(R), the global cutoff function
    FACTOR_COMPACT = 1      # compact bump on (rl, rc) with core and asymmetry
    ANGLE_POWER = 0         # 2^(1 - zeta) (1 + lambda cos)^zeta
    ANGLE_COMPACT = 1       # compact bump of theta on (left, right), radians


ctypedef struct Factored:
    int max_factors                  # radial factors of one element, at most
    int max_group_factors            # radial factors of one group, at most
    int max_group_angles             # angular factors of one group, at most
    const double *z                  # [element] atomic number (the weights of 12, 13, 23-25)
    const int64_t *factor_offsets    # CSR over centre element: distinct radial factors
    const int32_t *factor_shape      # FACTOR_*
    const int32_t *factor_core       # compact core (ext/_compact.h FP_CORE_*)
    const int32_t *factor_asym
    const double *factor_eta
    const double *factor_rs
    const double *factor_rl          # compact: lower end of the window
    const double *factor_rc
    const int64_t *radial_offsets    # CSR over centre element: types 12, 20, 23
    const int32_t *radial_factor     # element-local factor index
    const int32_t *radial_neighbor   # neighbour element, or -1: all, weighted by Z
    const int32_t *radial_col
    const int64_t *group_offsets     # CSR over centre element: pair groups
    const int32_t *group_a           # neighbour elements a <= b, or -1: all pairs, weighted
    const int32_t *group_b           #   by Z_j Z_k
    const int32_t *group_narrow      # 1: the radial factors also of R_jk
    const double *group_rl           # pairs need rl < R_j, R_k < rc (the widest window)
    const double *group_rc
    const int64_t *gfactor_offsets   # CSR over groups: the group's radial factors
    const int32_t *gfactor           # element-local factor index
    const int64_t *angle_offsets     # CSR over groups: the group's angular factors
    const int32_t *angle_shape       # ANGLE_*
    const int32_t *angle_core
    const double *angle_p1           # lambda, or the left end (radians)
    const double *angle_p2           # zeta, or the right end (radians)
    const int32_t *angle_izeta       # zeta as an integer, or -1
    const double *angle_prefactor    # 2^(1 - zeta) for powers, 1 for compact
    const int64_t *member_offsets    # CSR over groups
    const int32_t *member_factor     # group-local radial factor
    const int32_t *member_angle      # group-local angular factor
    const int32_t *member_col


ctypedef struct Tables:
    int n_elements
    int cutoff_type
    double alpha
    int max_factors                  # distinct angular factors of one element, at most
    int max_powers                   # distinct (lambda, zeta) of one element block, at most
    const int64_t *n_functions       # [element]
    const double *rc_max             # [element] radius within which neighbours are gathered
    const double *angular_rc_max     # [element] largest rc of its angular functions
    const int64_t *radial_offsets    # CSR over (centre, neighbour element)
    const double *radial_eta
    const double *radial_rs
    const double *radial_rc
    const int32_t *radial_col
    const int64_t *factor_offsets    # CSR over centre element: distinct (eta, rs, rc)
    const double *factor_eta
    const double *factor_rs
    const double *factor_rc
    const int64_t *group_offsets     # CSR over (centre, element a <= element b)
    const int32_t *block_needs_rjk   # [(centre, a, b)] 1 if any of its groups is narrow
    const double *block_narrow_cut   # [(centre, a, b)] largest rc when all groups are narrow
    const int32_t *group_wide        # 1: type 9 (no R_jk terms), 0: type 3
    const int32_t *group_factor      # factor index local to the centre element
    const int64_t *member_offsets    # CSR over groups
    const double *member_prefactor   # 2^(1 - zeta)
    const int32_t *member_col
    const int32_t *member_power      # index of its (lambda, zeta) among its block's powers
    const int64_t *power_offsets     # CSR over (centre, a, b): distinct (lambda, zeta)
    const double *power_lambda
    const double *power_zeta
    const int32_t *power_izeta       # zeta as an integer, or -1 when not integral
    const Factored *factored         # n2p2 types 12, 13, 20-25, or NULL when there are none


ctypedef struct Net:
    int n_layers          # number of weight layers (hidden layers + 1)
    const int32_t *size   # neurons per layer, size[0] = inputs, size[n_layers] = 1
    const int32_t *act    # activation code of layers 1..n_layers (index l - 1)
    const double *scale   # s_l, index l - 1
    const int64_t *woff   # offset of W_l in the weight vector, index l - 1
    const int64_t *boff   # offset of b_l, index l - 1
    int64_t width         # largest layer size
    int64_t n_weights


ctypedef struct Model:
    Tables sf
    int n_elements
    int64_t max_functions
    int64_t net_buffer            # doubles of network scratch per thread
    double energy_unit            # eV per unit of network output
    double extrapolation_eps      # tolerance of the training-range check
    const double *atom_energy     # [element], eV
    Net nets[MODEL_MAX_ELEMENTS]
    const double *weights[MODEL_MAX_ELEMENTS]
    const double *factor[MODEL_MAX_ELEMENTS]   # scaled G = offset + factor (G - shift)
    const double *shift[MODEL_MAX_ELEMENTS]
    const double *gmin[MODEL_MAX_ELEMENTS]     # training range of every function
    const double *gmax[MODEL_MAX_ELEMENTS]
    double offset[MODEL_MAX_ELEMENTS]


# Entry points of one instruction-set variant. Every one returns a Status code.
ctypedef struct KernelTable:
    const char *name
    # symmetry-function values: atom i's row starts at out[row_start[i]] (zeroed here)
    int (*sf_values)(const Tables *t, const int32_t *species, const PairList *pairs,
                     const int64_t *row_start, double *out, int n_threads,
                     Error *error) noexcept nogil
    # gradient of sum_i dEdG_i . G_i with respect to every entry vector (every entry written)
    int (*sf_backward)(const Tables *t, const int32_t *species, const PairList *pairs,
                       const int64_t *row_start, const double *dEdG, double *grad_entry,
                       int n_threads, Error *error) noexcept nogil
    # stored derivatives, see ext/kernels/_sf.pyx
    int (*sf_derivatives)(const Tables *t, const int32_t *species, const PairList *pairs,
                          const int32_t *slot_of_entry, const int32_t *self_slot,
                          const int64_t *block_start, double *blocks,
                          const int64_t *row_start, double *strain, int n_threads,
                          Error *error) noexcept nogil
    # network outputs y and, when dydx is not NULL, input gradients
    int (*net_evaluate)(const Net *net, const double *weights, int64_t n, const double *x,
                        double *y, double *dydx, int n_threads, Error *error) noexcept nogil
    # adds the weight gradient of sum_i c_i y_i + d_i (dy_i/dx_i . v_i)
    int (*net_weight_gradient)(const Net *net, const double *weights, int64_t n,
                               const double *x, const double *c, const double *d,
                               const double *v, double *gradient, int n_threads,
                               Error *error) noexcept nogil
    # per-atom energies, extrapolation counts and (grad_entry not NULL) entry gradients
    int (*model_evaluate)(const Model *m, const int32_t *species, const PairList *pairs,
                          double *energies, int32_t *extrapolated, double *grad_entry,
                          int n_threads, Error *error) noexcept nogil
