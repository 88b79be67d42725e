"""Reference results of scipy's L-BFGS-B on the bounded problems of `optim/tests/second_order_lbfgsb.rs`.

Run with any Python that has numpy and scipy (the numbers in the test were typed in from this output):

    python optim/tests/scripts/lbfgsb_reference.py

Each problem is written exactly as in the Rust test; scipy runs with tight tolerances (gtol 1e-12 on the
projected gradient, ftol 0) so that both sides stop at the bounded minimiser rather than somewhere near it.
"""
import numpy as np
from scipy.optimize import minimize


def rosen(x):
    return sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


# A 6x6 SPD matrix and a right-hand side whose unconstrained solution leaves the box [0, 1]^6 on several sides.
A = np.array([[4.0 + i if i == j else 1.0 / (1.0 + i + j) for j in range(6)] for i in range(6)])
B = np.array([3.0, -2.0, 8.0, 0.5, -4.0, 9.0])


def quad(x):
    return 0.5 * x @ A @ x - B @ x


def quad_grad(x):
    return A @ x - B


PROBLEMS = [
    # name, f, grad, x0, bounds
    ("rosen2_box", rosen, rosen_grad, [-1.2, 1.0], [(-2.0, 0.5), (-1.0, 2.0)]),
    ("rosen10_box", rosen, rosen_grad, [0.0] * 10, [(-1.0, 0.8) if i % 3 == 0 else (-1.0, 2.0) for i in range(10)]),
    ("rosen5_lower", rosen, rosen_grad, [2.0] * 5, [(1.5, None), (None, None), (None, None), (None, 0.5), (None, None)]),
    ("quad6_unit_box", quad, quad_grad, [0.5] * 6, [(0.0, 1.0)] * 6),
]

for name, f, g, x0, bounds in PROBLEMS:
    r = minimize(f, np.array(x0), jac=g, method="L-BFGS-B", bounds=bounds,
                 options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 15000})
    print(f"{name}: nit {r.nit} nfev {r.nfev} status {r.status}")
    print(f"  x = [{', '.join(repr(float(v)) for v in r.x)}]")
    print(f"  f = {float(r.fun)!r}")
