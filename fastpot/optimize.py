"""L-BFGS with a state that can be saved and resumed exactly.

scipy's L-BFGS-B cannot be restarted with its curvature history, so an interrupted training
would take a different path after a restart. This small implementation (Nocedal & Wright,
Numerical Optimization, Algorithm 7.4, two-loop recursion) keeps everything in ``state``;
the line search is scipy's strong-Wolfe search (Moré-Thuente).
"""
import numpy as np
from scipy.optimize import line_search


class LBFGS:
    """Minimise ``fun(x) -> (value, gradient)``.

    Parameters
    ----------
    fun : callable
    x0 : array
    memory : int
        Number of curvature pairs kept.
    """

    def __init__(self, fun, x0, memory=20):
        self.fun = fun
        self.memory = int(memory)
        x0 = np.array(x0, dtype=float)
        f, g = fun(x0)
        self.state = {"x": x0, "f": float(f), "g": np.array(g, dtype=float), "s": [], "y": [],
                      "iteration": 0, "evaluations": 1, "previous_f": None}

    @classmethod
    def resume(cls, fun, state, memory=20):
        """Continue from a saved ``state`` (as returned by ``state``), without re-evaluating."""
        self = cls.__new__(cls)
        self.fun = fun
        self.memory = int(memory)
        self.state = {k: (v.copy() if isinstance(v, np.ndarray) else
                          [a.copy() for a in v] if isinstance(v, list) else v)
                      for k, v in state.items()}
        return self

    def direction(self):
        """-H g by the two-loop recursion over the stored pairs."""
        st = self.state
        q = -st["g"].copy()
        alphas = []
        for s, y in zip(reversed(st["s"]), reversed(st["y"])):
            rho = 1.0 / y.dot(s)
            a = rho * s.dot(q)
            q -= a * y
            alphas.append((a, rho, s, y))
        if st["s"]:
            s, y = st["s"][-1], st["y"][-1]
            q *= s.dot(y) / y.dot(y)
        else:
            q *= 1.0 / max(np.linalg.norm(st["g"]), 1e-12)
        for a, rho, s, y in reversed(alphas):
            b = rho * y.dot(q)
            q += (a - b) * s
        return q

    def step(self):
        """One iteration; returns False when no further progress is possible."""
        st = self.state
        d = self.direction()
        if d.dot(st["g"]) >= 0.0:  # not a descent direction: forget the history
            st["s"], st["y"] = [], []
            d = -st["g"] / max(np.linalg.norm(st["g"]), 1e-12)
        cache = {}

        def value(x):
            key = x.tobytes()
            if key not in cache:
                cache[key] = self.fun(x)
                st["evaluations"] += 1
            return cache[key][0]

        def gradient(x):
            value(x)
            return cache[x.tobytes()][1]

        alpha, _, _, f_new, _, g_new = line_search(value, gradient, st["x"], d, gfk=st["g"],
                                                   old_fval=st["f"],
                                                   old_old_fval=st["previous_f"], maxiter=20)
        if alpha is None:
            if st["s"]:  # retry once from steepest descent with a fresh history
                st["s"], st["y"] = [], []
                return self.step()
            # Steepest descent without history starts from a unit step, which can be far
            # too long (measured after Adam on TiO2: the Wolfe search failed and the fit
            # stopped with half its budget left); backtrack to any sufficient decrease.
            alpha = self._backtrack(value, d)
            if alpha is None:
                return False
            f_new, g_new = value(st["x"] + alpha * d), None
        x_new = st["x"] + alpha * d
        if g_new is None:
            g_new = gradient(x_new)
        g_new = np.asarray(g_new, dtype=float)
        s, y = x_new - st["x"], g_new - st["g"]
        if s.dot(y) > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
            st["s"].append(s)
            st["y"].append(y)
            if len(st["s"]) > self.memory:
                st["s"].pop(0)
                st["y"].pop(0)
        st["previous_f"] = st["f"]
        st["x"], st["f"], st["g"] = x_new, float(f_new), g_new
        st["iteration"] += 1
        return True

    def _backtrack(self, value, d, c1=1e-4, shrink=0.1, tries=12):
        """The first of alpha = 0.1, 0.01, ... (the unit step has failed already) with an
        Armijo decrease along d, or None."""
        st = self.state
        slope = float(d.dot(st["g"]))
        if not slope < 0.0:                    # zero gradient: nothing to descend
            return None
        alpha = 1.0
        for _ in range(tries):
            alpha *= shrink
            f = value(st["x"] + alpha * d)
            if np.isfinite(f) and f <= st["f"] + c1 * alpha * slope:
                return alpha
        return None

    def save_arrays(self):
        """The state as a flat dict of arrays (for np.savez)."""
        st = self.state
        n = len(st["s"])
        return {"x": st["x"], "f": np.array(st["f"]), "g": st["g"],
                "s": np.array(st["s"]).reshape(n, -1), "y": np.array(st["y"]).reshape(n, -1),
                "iteration": np.array(st["iteration"]), "evaluations": np.array(st["evaluations"]),
                "previous_f": np.array(np.nan if st["previous_f"] is None else st["previous_f"])}

    @staticmethod
    def state_from_arrays(arrays):
        previous = float(arrays["previous_f"])
        return {"x": np.array(arrays["x"]), "f": float(arrays["f"]), "g": np.array(arrays["g"]),
                "s": list(np.array(arrays["s"])), "y": list(np.array(arrays["y"])),
                "iteration": int(arrays["iteration"]), "evaluations": int(arrays["evaluations"]),
                "previous_f": None if np.isnan(previous) else previous}


class Adam:
    """Adam (Kingma & Ba, arXiv:1412.6980) on minibatch gradients, with a state that can be
    saved and resumed exactly. The learning rate is given per step, so that the schedule
    stays with the caller."""

    def __init__(self, x0, beta1=0.9, beta2=0.999, eps=1e-8):
        x0 = np.array(x0, dtype=float)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.state = {"x": x0, "m": np.zeros_like(x0), "v": np.zeros_like(x0), "t": 0}

    def step(self, gradient, learning_rate):
        st = self.state
        st["t"] += 1
        st["m"] = self.beta1 * st["m"] + (1.0 - self.beta1) * gradient
        st["v"] = self.beta2 * st["v"] + (1.0 - self.beta2) * gradient * gradient
        m_hat = st["m"] / (1.0 - self.beta1 ** st["t"])
        v_hat = st["v"] / (1.0 - self.beta2 ** st["t"])
        st["x"] = st["x"] - learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)

    def save_arrays(self):
        st = self.state
        return {"x": st["x"], "m": st["m"], "v": st["v"], "t": np.array(st["t"])}

    @classmethod
    def from_arrays(cls, arrays):
        self = cls(arrays["x"])
        self.state.update(m=np.array(arrays["m"]), v=np.array(arrays["v"]),
                          t=int(arrays["t"]))
        return self
