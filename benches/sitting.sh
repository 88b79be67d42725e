#!/usr/bin/env bash
# One sitting: every criterion bench of this package beside its peer script, ours and the peer's
# alternating, ROUNDS times, then a summary of the means and the ratios the issues set targets on.
#
#   benches/sitting.sh [ROUNDS]          (default 2; about 4 minutes per round, after the build)
#
# Environment: PY (the peers' venv python, default /work/peers-env/bin/python), ANCHORS (the anchors'
# scripts, default /work/shared/anchors), CARGO_TARGET_DIR as usual, OUT (log directory, default
# target/sitting-<UTC time>). Every bench of ours checks its result before timing; a failed
# check stops the sitting. The summary quotes the CPU model and the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/peers-env/bin/python}
ANCHORS=${ANCHORS:-/work/shared/anchors}
ROUNDS=${1:-2}
OUT=${OUT:-target/sitting-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
LOG="$OUT/raw.txt"

echo "building the benches (not timed)..."
cargo bench --no-run --bench hvp_ratio --bench mlp_step --bench matmul --bench tape_overhead \
    --bench adam_step --bench second_order --bench conv_step --bench scaling >"$OUT/build.txt" 2>&1

{
    echo "# sitting $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
    echo "# cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus, $(lscpu | grep -o 'avx512f' | head -1 || true) $(lscpu | grep -wo 'avx2' | head -1 || true)"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$LOG"

ours() { # bench [criterion filter]
    echo "## ours $1 $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$LOG"
    cargo bench --bench "$1" -- ${2:+"$2"} 2>&1 | grep -v '^\s*$' | tee -a "$LOG"
}
peer() { # script [args]
    echo "## peer $(basename "$1") $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$LOG"
    "$PY" "$@" 2>&1 | grep -v -i 'warning' | tee -a "$LOG"
}

for round in $(seq "$ROUNDS"); do
    echo "## round $round" | tee -a "$LOG"
    ours hvp_ratio
    peer "$ANCHORS/hvp_ratio.py"
    ours mlp_step
    peer "$ANCHORS/jax_mlp_step.py"
    peer "$ANCHORS/torch_mlp_step.py"
    ours matmul '1024|2048'
    peer benches/peers/torch_matmul.py
    ours tape_overhead
    peer "$ANCHORS/torch_op_overhead.py"
    ours adam_step
    peer benches/peers/torch_adam.py
    ours second_order
    peer "$ANCHORS/scipy_second_order.py"
    ours conv_step
    peer "$ANCHORS/torch_conv_step.py" 2 64
    # issue 13: ranks are the only parallelism (the bench turns intra-op parallelism off in every rank)
    echo "## ours scaling $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$LOG"
    cargo bench --bench scaling 2>&1 | grep -v '^\s*$' | tee -a "$LOG"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"

python3 - "$LOG" <<'PYEOF' | tee "$OUT/summary.txt"
import re, sys, statistics
text = open(sys.argv[1]).read()
head = [l for l in text.splitlines() if l.startswith('# ')]
unit = {'ns': 1e-6, 'µs': 1e-3, 'us': 1e-3, 'ms': 1.0, 's': 1e3}
ours = {}  # criterion id -> list of means (ms)
for m in re.finditer(r'^(\S+)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]', text, re.M):
    ours.setdefault(m.group(1), []).append(float(m.group(2)) * unit[m.group(3)])
def peer(pattern):
    return [float(x) for x in re.findall(pattern, text)]
def fmt(xs):
    return ' / '.join(f'{x:.3f}' for x in xs) if xs else 'n/a'
def mean(xs):
    return statistics.mean(xs) if xs else float('nan')
rows = []
def row(name, o, p, target=''):
    ratio = mean(o) / mean(p) if o and p else float('nan')
    rows.append((name, fmt(o), fmt(p), f'{ratio:.2f}x', target))
g = ours.get('hvp_ratio/grad_tanh_mlp_b128_f32', [])
h = ours.get('hvp_ratio/hvp_rev_over_rev_tanh_mlp_b128_f32', [])
hc = ours.get('hvp_ratio/hvp_cached_gradient_graph_tanh_mlp_b128_f32', [])
jg, jh = peer(r'jax-jit grad ([\d.]+) ms'), peer(r'jax-jit grad [\d.]+ ms; hvp ([\d.]+) ms')
tg, trr = peer(r'torch grad ([\d.]+) ms'), peer(r'hvp rev-over-rev ([\d.]+) ms')
row('tanh MLP grad (ms) vs JAX jit', g, jg)
row('tanh MLP grad (ms) vs PyTorch', g, tg)
# functional::hvp's default mode (forward over reverse) is the one the targets are on.
hd = ours.get('hvp_ratio/hvp_fwd_over_rev_tanh_mlp_b128_f32', [])
row('HVP from scratch, default mode (ms) vs JAX jit', hd, jh, '<= 0.8x')
row('HVP from scratch, default mode (ms) vs PyTorch rev-rev', hd, trr)
row('HVP from scratch, default mode / our grad', hd, g, '<= 1.5x')
row('HVP rev_over_rev from scratch / our grad', h, g)
row('HVP rev_over_fwd from scratch / our grad', ours.get('hvp_ratio/hvp_rev_over_fwd_tanh_mlp_b128_f32', []), g)
row('further HVP, cached graph / our grad', hc, g)
row('MLP step, Adam (ms) vs JAX jit', ours.get('mlp_step/relu_784_256_256_10_b128_f32_adam', []), peer(r'jax-jit mlp step: ([\d.]+) ms'), '<= 0.8x')
row('MLP step, Adam (ms) vs PyTorch', ours.get('mlp_step/relu_784_256_256_10_b128_f32_adam', []), peer(r'torch mlp step: ([\d.]+) ms'))
row('matmul f32 1024^2 (ms) vs torch.matmul', ours.get('matmul_f32/nn/1024', []), peer(r'torch matmul float32 1024: mean [\d.]+ ms, median ([\d.]+) ms'), '<= 1.0x')
row('matmul f32 1024^2 (ms) vs matrixmultiply', ours.get('matmul_f32/nn/1024', []), ours.get('matmul_f32_matrixmultiply/nn/1024', []))
row('matmul f32 2048^2 (ms) vs torch.matmul', ours.get('matmul_f32/nn/2048', []), peer(r'torch matmul float32 2048: mean [\d.]+ ms, median ([\d.]+) ms'))
row('matmul f64 1024^2 (ms) vs torch.matmul', ours.get('matmul_f64/nn/1024', []), peer(r'torch matmul float64 1024: mean [\d.]+ ms, median ([\d.]+) ms'))
tape = [t / 2501 * 1e3 for t in ours.get('tape_overhead/chain_1000_ops_16_elems_fwd_bwd', [])]
row('tape, per recorded op (us) vs PyTorch eager', tape, peer(r'torch eager: ([\d.]+) us'))
row('Adam 4x250k f32 (ms) vs PyTorch', ours.get('adam_step/4x250k_f32', []), peer(r'torch adam 4x250000: median ([\d.]+) ms'))
row('Adam 1x1M f32 (ms) vs PyTorch', ours.get('adam_step/1x1M_f32', []), peer(r'torch adam 1x1000000: median ([\d.]+) ms'))
row('LeNet conv step, Adam, b64 (ms) vs PyTorch 2 threads', ours.get('conv_step/lenet_b64_f32_adam', []), peer(r'torch LeNet step, batch 64, 2 threads: median ([\d.]+) ms'))
for ours_id, pat in [('digits_logreg_trust_ncg', r'logreg.*trust-ncg'), ('digits_logreg_newton_cg', r'logreg.*Newton-CG'),
                     ('digits_logreg_lbfgs', r'logreg.*L-BFGS-B'), ('rosenbrock_1000d_lbfgs', r'1000.*L-BFGS-B')]:
    row(f'{ours_id} (ms) vs scipy', ours.get(f'second_order/{ours_id}', []),
        peer(r'(?m)^.*' + pat + r'.* ([\d.]+) ms\s*$'), '<= 0.25x')
for work in ['dp_step', 'sharded_trust_ncg']:
    one, two = ours.get(f'scaling/{work}/1_rank', []), ours.get(f'scaling/{work}/2_threads', [])
    eff = [a / (2 * b) for a, b in zip(one, two)]
    rows.append((f'{work}: parallel efficiency 1 -> 2 thread ranks', fmt(one) + ' ms', fmt(two) + ' ms',
                 f'{mean(eff):.0%}' if eff else 'n/a', '>= 85%'))
print('\n'.join(head))
w = max(len(r[0]) for r in rows)
print(f"{'workload':{w}}  {'ours (each round)':24}  {'peer (each round)':24}  ratio   target")
for r in rows:
    print(f'{r[0]:{w}}  {r[1]:24}  {r[2]:24}  {r[3]:6}  {r[4]}')
PYEOF
