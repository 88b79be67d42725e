"""MINPACK's residual-evaluation counts on MGH10 from start 1 with `b1` moved by a few ulps, for the test
`mgh10_start1_counts_are_no_worse_than_minpack_over_moved_starts` in `optim/tests/nist_strd.rs`.

MGH10's ~280 short steps from start 1 are decided at knife edges, so the count moves with rounding-level
changes of the start (or of the Jacobian). This runs MINPACK `lmder` (scipy's `leastsq` with `Dfun`,
`col_deriv=True`; the call `least_squares(method='lm')` makes: `factor = 100`, `diag` from the Jacobian) from
start 1 with `b1 = 2` moved by `k` ulps (`k` steps of `np.nextafter`), `-K <= k <= K`, with the tolerances of
`nist_minpack.py` (those of our default `LmConfig`: `ftol = 1e-15`, `xtol = 1e-10`, `gtol = 1e-15`) and its
budget (`least_squares`' default `max_nfev = 100 n = 300`), once with the complex-step Jacobian of
`nist_minpack.py` (at `k = 0` this is the `MGH10 1` row of `minpack.txt`) and once with the analytic one
(a few ulps apart, and so a different draw). Per start it prints `k`, the bits of `b1`, and per Jacobian the
residual evaluations (`nfev`) and whether the parameters are within 1e-8 relative of the certified values.

    python optim/tests/scripts/nist_mgh10_moved_starts.py > optim/tests/data/nist/mgh10_moved_starts.txt

(`K = 50`; another `K` as the first argument.)
"""

import sys

import numpy as np
import scipy
from scipy.optimize import leastsq

from nist_minpack import MODELS, parse

def main(K=50):
    starts, cert, _, x, y = parse("MGH10")
    model = MODELS["MGH10"]

    def res(b):
        return model(b, x) - y

    def complex_step(b):
        h = 1e-30
        cols = []
        for j in range(len(b)):
            bc = b.astype(complex)
            bc[j] += 1j * h
            cols.append(np.imag(model(bc, x)) / h)
        return np.array(cols)

    def analytic(b):
        d = x + b[2]
        e = np.exp(b[1] / d)
        return np.array([e, b[0] * e / d, -b[0] * b[1] * e / d**2])

    print(f"# scipy {scipy.__version__} (numpy {np.__version__}) leastsq(Dfun, col_deriv=True), MINPACK lmder, "
          f"ftol = 1e-15, xtol = 1e-10, gtol = 1e-15, maxfev = 300; MGH10 start 1 with b1 moved by k ulps")
    print(f"# python optim/tests/scripts/nist_mgh10_moved_starts.py {K}")
    print("# k b1_bits nfev_complex_step ok_complex_step nfev_analytic ok_analytic  (ok: within 1e-8 relative)")
    for k in range(-K, K + 1):
        x0 = starts[0].copy()
        for _ in range(abs(k)):
            x0[0] = np.nextafter(x0[0], np.inf if k > 0 else -np.inf)
        row = f"{k} {np.float64(x0[0]).view(np.uint64):#018x}"
        for jac in (complex_step, analytic):
            b, _, info, _, _ = leastsq(res, x0, Dfun=jac, col_deriv=True, full_output=True, ftol=1e-15, xtol=1e-10,
                                       gtol=1e-15, maxfev=300)
            err = np.max(np.abs(b - cert) / np.abs(cert))
            row += f" {info['nfev']} {int(err <= 1e-8)}"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(*map(int, sys.argv[1:])))
