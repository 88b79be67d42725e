"""Reference results of scipy's bounded least squares on the problems of `optim/tests/least_squares_bounds.rs`.

Run with any Python that has numpy and scipy (the numbers in the test were typed in from this output):

    python optim/tests/scripts/least_squares_bounds_reference.py

Each problem is written exactly as in the Rust test. scipy's `least_squares` runs with `method='trf'` (trust-region
reflective, Branch, Coleman & Li 1999) and `method='dogbox'`, both with an exact Jacobian and tolerances at 1e-15
so that they stop at the bounded minimiser; the script checks the two agree and prints the solution, the cost
1/2 ||r||^2 and the active mask (-1 at a lower bound, 1 at an upper bound, 0 free).
"""
import numpy as np
from scipy.optimize import least_squares

np.set_printoptions(precision=17)


def rosenbrock(x):
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


def rosenbrock_jac(x):
    return np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]])


T = np.arange(12) * 0.5
Y = 3.0 * np.exp(-0.7 * T) + 0.5 + 0.01 * np.sin(7.0 * T)


def decay(p):
    return p[0] * np.exp(-p[1] * T) + p[2] - Y


def decay_jac(p):
    e = np.exp(-p[1] * T)
    return np.stack([e, -p[0] * T * e, np.ones_like(T)], axis=1)


# A linear problem A x ~ b whose unconstrained solution leaves [0, 1]^4 on both sides.
A = np.array([[1.0 + i + j if (i + j) % 3 else 0.5 * (i - j) for j in range(4)] for i in range(8)])
B = np.array([4.0, -3.0, 7.0, 1.0, -6.0, 2.5, 30.0, -1.0])


def linear(x):
    return A @ x - B


def linear_jac(x):
    return A


PROBLEMS = [
    # name, residuals, Jacobian, x0, lower, upper
    ("rosenbrock", rosenbrock, rosenbrock_jac, [-1.2, 1.0], [-2.0, -1.0], [0.5, 2.0]),
    ("decay", decay, decay_jac, [1.0, 0.1, 0.0], [0.0, 0.0, -np.inf], [np.inf, 0.55, 0.3]),
    ("linear", linear, linear_jac, [0.5, 0.5, 0.5, 0.5], [0.0] * 4, [1.0] * 4),
]

for name, fun, jac, x0, lo, hi in PROBLEMS:
    results = [
        least_squares(fun, x0, jac=jac, bounds=(lo, hi), method=m, ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=10000)
        for m in ("trf", "dogbox")
    ]
    trf, dogbox = results
    assert np.allclose(trf.x, dogbox.x, rtol=1e-8, atol=1e-10), (name, trf.x, dogbox.x)
    assert (trf.active_mask == dogbox.active_mask).all(), (name, trf.active_mask, dogbox.active_mask)
    print(f"{name}: x = {[float(v) for v in trf.x]}")
    print(f"{name}: cost = {float(trf.cost)!r} active_mask = {[int(v) for v in trf.active_mask]} nfev trf {trf.nfev} dogbox {dogbox.nfev}")
