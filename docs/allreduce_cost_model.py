#!/usr/bin/env python3
"""The all-reduce cost model of docs/distributed.md: ring all-reduce time and the data-parallel step time it
predicts for `examples/data_parallel.rs`'s ScalingStep (784-1024-1024-10 MLP, f32) on p machines.

    python3 docs/allreduce_cost_model.py T1_MS

T1_MS: the measured time of one ScalingStep on one process (global batch 512), in milliseconds.
Prints the markdown tables of docs/distributed.md. Standard library only.
"""
import sys

# parameters of ScalingStep: 784*1024 + 1024 + 1024*1024 + 1024 + 1024*10 + 10
N_PARAMS = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
BYTES = 4 * (N_PARAMS + 1)  # f32 gradients + the row count the reducer appends
NETWORKS = [  # (name, bandwidth in bytes/s, per-message latency alpha in s)
    ("10 Gb/s Ethernet (TCP), alpha = 25 us", 10e9 / 8, 25e-6),
    ("100 Gb/s InfiniBand/RoCE, alpha = 5 us", 100e9 / 8, 5e-6),
]
MACHINES = [2, 8, 16, 32, 64]


def ring_allreduce(p, n_bytes, bandwidth, alpha):
    """Reduce-scatter then all-gather around a ring: 2(p-1) messages of n/p bytes each, per rank."""
    if p == 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes / bandwidth


def main():
    t1 = float(sys.argv[1]) * 1e-3
    print(f"ScalingStep: {N_PARAMS:,} parameters, {BYTES / 1e6:.2f} MB of f32 gradients per all-reduce; "
          f"T1 = {t1 * 1e3:.1f} ms per step of 512 rows on one process\n")
    for name, bw, alpha in NETWORKS:
        print(f"**{name}**\n")
        print("| machines p | all-reduce (ms) | strong scaling: batch 512, step = T1/p + AR (ms) | efficiency "
              "| weak scaling: 512 rows per machine, step = T1 + AR (ms) | efficiency |")
        print("|---|---|---|---|---|---|")
        for p in MACHINES:
            ar = ring_allreduce(p, BYTES, bw, alpha)
            strong = t1 / p + ar
            weak = t1 + ar
            print(f"| {p} | {ar * 1e3:.2f} | {strong * 1e3:.2f} | {t1 / (p * strong):.0%} "
                  f"| {weak * 1e3:.2f} | {t1 / weak:.0%} |")
        print()


if __name__ == "__main__":
    main()
