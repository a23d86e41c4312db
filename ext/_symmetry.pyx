"""Symmetry functions from Python: the tables as the kernels read them, and calls into the
installed kernel variant (ext/kernels/_sf.pyx has the algorithms)."""
from libc.stdint cimport int32_t, int64_t

from _contract cimport Error, KernelTable, PairList, STATUS_OK
from fastpot._dispatch cimport kernels, check
from fastpot._neighbors cimport Pairs

import numpy as np

# keys of the table arrays (fastpot/symmetry.py _build_tables) and their dtypes
TABLE_ARRAYS = {
    "n_functions": np.int64, "rc_max": np.float64, "angular_rc_max": np.float64,
    "radial_offsets": np.int64, "radial_eta": np.float64, "radial_rs": np.float64,
    "radial_rc": np.float64, "radial_col": np.int32, "factor_offsets": np.int64,
    "factor_eta": np.float64, "factor_rs": np.float64, "factor_rc": np.float64,
    "group_offsets": np.int64, "block_needs_rjk": np.int32, "block_narrow_cut": np.float64,
    "group_wide": np.int32, "group_factor": np.int32, "member_offsets": np.int64,
    "member_prefactor": np.float64, "member_col": np.int32, "member_power": np.int32,
    "power_offsets": np.int64, "power_lambda": np.float64, "power_zeta": np.float64,
    "power_izeta": np.int32,
}

# keys of the factored tables (types 12, 13, 20-25), present when a potential uses them
FACTORED_ARRAYS = {
    "z": np.float64, "factor_offsets": np.int64, "factor_shape": np.int32,
    "factor_core": np.int32, "factor_asym": np.int32, "factor_eta": np.float64,
    "factor_rs": np.float64, "factor_rl": np.float64, "factor_rc": np.float64,
    "radial_offsets": np.int64, "radial_factor": np.int32, "radial_neighbor": np.int32,
    "radial_col": np.int32, "group_offsets": np.int64, "group_a": np.int32,
    "group_b": np.int32, "group_narrow": np.int32, "group_rl": np.float64,
    "group_rc": np.float64, "gfactor_offsets": np.int64, "gfactor": np.int32,
    "angle_offsets": np.int64, "angle_shape": np.int32, "angle_core": np.int32,
    "angle_p1": np.float64, "angle_p2": np.float64, "angle_izeta": np.int32,
    "angle_prefactor": np.float64, "member_offsets": np.int64, "member_factor": np.int32,
    "member_angle": np.int32, "member_col": np.int32,
}


def _widest(offsets):
    return int(np.diff(offsets).max()) if len(offsets) > 1 else 0


cdef size_t _address(object array) except 0:
    cdef size_t address = array.__array_interface__["data"][0]
    return address if address != 0 else <size_t> &_EMPTY


cdef double _EMPTY = 0.0


cdef class SymmetryTables:
    """Owns the table arrays and exposes them as the C struct Tables (ext/_contract.pxd)."""

    def __init__(self, int n_elements, int cutoff_type, double alpha, dict arrays,
                 dict factored=None):
        missing = sorted(set(TABLE_ARRAYS) - set(arrays))
        if missing:
            raise ValueError(f"symmetry-function tables lack {missing}")
        self.arrays = {key: np.ascontiguousarray(arrays[key], dtype=dtype)
                       for key, dtype in TABLE_ARRAYS.items()}
        a = self.arrays
        factor_offsets = a["factor_offsets"]
        self.max_factors = int(np.diff(factor_offsets).max()) if len(factor_offsets) > 1 else 0
        self.max_powers = int(np.diff(a["power_offsets"]).max())
        t = &self.t
        t.n_elements = n_elements
        t.cutoff_type = cutoff_type
        t.alpha = alpha
        t.max_factors = self.max_factors
        t.max_powers = self.max_powers
        t.n_functions = <const int64_t *> _address(a["n_functions"])
        t.rc_max = <const double *> _address(a["rc_max"])
        t.angular_rc_max = <const double *> _address(a["angular_rc_max"])
        t.radial_offsets = <const int64_t *> _address(a["radial_offsets"])
        t.radial_eta = <const double *> _address(a["radial_eta"])
        t.radial_rs = <const double *> _address(a["radial_rs"])
        t.radial_rc = <const double *> _address(a["radial_rc"])
        t.radial_col = <const int32_t *> _address(a["radial_col"])
        t.factor_offsets = <const int64_t *> _address(a["factor_offsets"])
        t.factor_eta = <const double *> _address(a["factor_eta"])
        t.factor_rs = <const double *> _address(a["factor_rs"])
        t.factor_rc = <const double *> _address(a["factor_rc"])
        t.group_offsets = <const int64_t *> _address(a["group_offsets"])
        t.block_needs_rjk = <const int32_t *> _address(a["block_needs_rjk"])
        t.block_narrow_cut = <const double *> _address(a["block_narrow_cut"])
        t.group_wide = <const int32_t *> _address(a["group_wide"])
        t.group_factor = <const int32_t *> _address(a["group_factor"])
        t.member_offsets = <const int64_t *> _address(a["member_offsets"])
        t.member_prefactor = <const double *> _address(a["member_prefactor"])
        t.member_col = <const int32_t *> _address(a["member_col"])
        t.member_power = <const int32_t *> _address(a["member_power"])
        t.power_offsets = <const int64_t *> _address(a["power_offsets"])
        t.power_lambda = <const double *> _address(a["power_lambda"])
        t.power_zeta = <const double *> _address(a["power_zeta"])
        t.power_izeta = <const int32_t *> _address(a["power_izeta"])
        t.factored = NULL
        if factored is not None:
            self._set_factored(factored)

    cdef _set_factored(self, dict arrays):
        missing = sorted(set(FACTORED_ARRAYS) - set(arrays))
        if missing:
            raise ValueError(f"factored symmetry-function tables lack {missing}")
        self.factored_arrays = {key: np.ascontiguousarray(arrays[key], dtype=dtype)
                                for key, dtype in FACTORED_ARRAYS.items()}
        a = self.factored_arrays
        f = &self.factored
        f.max_factors = _widest(a["factor_offsets"])
        f.max_group_factors = _widest(a["gfactor_offsets"])
        f.max_group_angles = _widest(a["angle_offsets"])
        f.z = <const double *> _address(a["z"])
        f.factor_offsets = <const int64_t *> _address(a["factor_offsets"])
        f.factor_shape = <const int32_t *> _address(a["factor_shape"])
        f.factor_core = <const int32_t *> _address(a["factor_core"])
        f.factor_asym = <const int32_t *> _address(a["factor_asym"])
        f.factor_eta = <const double *> _address(a["factor_eta"])
        f.factor_rs = <const double *> _address(a["factor_rs"])
        f.factor_rl = <const double *> _address(a["factor_rl"])
        f.factor_rc = <const double *> _address(a["factor_rc"])
        f.radial_offsets = <const int64_t *> _address(a["radial_offsets"])
        f.radial_factor = <const int32_t *> _address(a["radial_factor"])
        f.radial_neighbor = <const int32_t *> _address(a["radial_neighbor"])
        f.radial_col = <const int32_t *> _address(a["radial_col"])
        f.group_offsets = <const int64_t *> _address(a["group_offsets"])
        f.group_a = <const int32_t *> _address(a["group_a"])
        f.group_b = <const int32_t *> _address(a["group_b"])
        f.group_narrow = <const int32_t *> _address(a["group_narrow"])
        f.group_rl = <const double *> _address(a["group_rl"])
        f.group_rc = <const double *> _address(a["group_rc"])
        f.gfactor_offsets = <const int64_t *> _address(a["gfactor_offsets"])
        f.gfactor = <const int32_t *> _address(a["gfactor"])
        f.angle_offsets = <const int64_t *> _address(a["angle_offsets"])
        f.angle_shape = <const int32_t *> _address(a["angle_shape"])
        f.angle_core = <const int32_t *> _address(a["angle_core"])
        f.angle_p1 = <const double *> _address(a["angle_p1"])
        f.angle_p2 = <const double *> _address(a["angle_p2"])
        f.angle_izeta = <const int32_t *> _address(a["angle_izeta"])
        f.angle_prefactor = <const double *> _address(a["angle_prefactor"])
        f.member_offsets = <const int64_t *> _address(a["member_offsets"])
        f.member_factor = <const int32_t *> _address(a["member_factor"])
        f.member_angle = <const int32_t *> _address(a["member_angle"])
        f.member_col = <const int32_t *> _address(a["member_col"])
        self.t.factored = &self.factored


def values(SymmetryTables tables, const int32_t[::1] species, Pairs pairs,
           const int64_t[::1] row_start, double[::1] out, int n_threads):
    """Symmetry-function values of every atom: atom i's row starts at out[row_start[i]]."""
    cdef Error error
    cdef int status
    error.code = STATUS_OK
    if species.shape[0] != pairs.c.n_atoms:
        raise ValueError("species and neighbour list disagree on the number of atoms")
    if species.shape[0] == 0:
        return
    cdef const KernelTable *k = kernels()
    with nogil:
        status = k.sf_values(&tables.t, &species[0], &pairs.c, &row_start[0], &out[0],
                                     n_threads, &error)
    check(status, &error)


def backward(SymmetryTables tables, const int32_t[::1] species, Pairs pairs,
             const int64_t[::1] row_start, const double[::1] dEdG, int n_threads):
    """d(sum_i dEdG_i . G_i)/dD for every neighbour entry, into pairs.entry_gradient."""
    cdef Error error
    cdef int status
    cdef double[:, ::1] grad_entry = pairs.entry_gradient
    error.code = STATUS_OK
    if species.shape[0] != pairs.c.n_atoms:
        raise ValueError("species and neighbour list disagree on the number of atoms")
    if species.shape[0] == 0:
        return
    cdef const KernelTable *k = kernels()
    with nogil:
        status = k.sf_backward(&tables.t, &species[0], &pairs.c, &row_start[0],
                                       &dEdG[0], &grad_entry[0, 0], n_threads, &error)
    check(status, &error)


def derivatives(SymmetryTables tables, const int32_t[::1] species, Pairs pairs,
                const int32_t[::1] slot_of_entry, const int32_t[::1] self_slot,
                const int64_t[::1] block_start, double[::1] blocks,
                const int64_t[::1] row_start, double[:, ::1] strain, int n_threads):
    """Stored derivatives: centre i's block blocks[block_start[i]:] is [slot][function][xyz]
    (zeroed by the caller); strain[row_start[i] + s] gets the strain derivative (Voigt) of its
    function s."""
    cdef Error error
    cdef int status
    error.code = STATUS_OK
    if species.shape[0] == 0 or pairs.c.n_entries == 0:
        return
    cdef double *block_data = &blocks[0] if blocks.shape[0] else NULL
    cdef const KernelTable *k = kernels()
    with nogil:
        status = k.sf_derivatives(&tables.t, &species[0], &pairs.c, &slot_of_entry[0],
                                          &self_slot[0], &block_start[0], block_data,
                                          &row_start[0], &strain[0, 0], n_threads, &error)
    check(status, &error)
