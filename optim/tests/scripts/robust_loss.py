"""scipy's robust least-squares fits, for `optim/tests/least_squares_robust.rs`.

Fits `a exp(-b t) + c` to 21 points with a deterministic wiggle and three outliers, with every loss of scipy's
`least_squares(loss=...)` and `f_scale = 0.1`, tolerances tight enough that the printed solution is the
minimiser to ~1e-10, and prints `loss a b c cost` (cost = 1/2 sum f_scale^2 rho((r / f_scale)^2)).

    python optim/tests/scripts/robust_loss.py
"""

import numpy as np
from scipy.optimize import least_squares

t = np.linspace(0.0, 4.0, 21)
y = 5.0 * np.exp(-1.3 * t) + 0.5 + 0.05 * np.sin(7.0 * t)
y[3] += 3.0
y[10] -= 2.0
y[17] += 4.0


def res(p):
    return p[0] * np.exp(-p[1] * t) + p[2] - y


def jac(p):
    e = np.exp(-p[1] * t)
    return np.stack([e, -p[0] * t * e, np.ones_like(t)], axis=1)


for loss in ["linear", "huber", "soft_l1", "cauchy", "arctan"]:
    r = least_squares(res, [4.0, 1.0, 0.3], jac=jac, loss=loss, f_scale=0.1, method="trf",
                      ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=10000)
    print(f"{loss} {r.x[0]:.15e} {r.x[1]:.15e} {r.x[2]:.15e} {r.cost:.15e} {r.status}")
