# Peer of benches/adam_step.rs: torch.optim.Adam(foreach=True) over 4 x 250k and 1 x 1M f32 parameters, warm
# state, default hyperparameters. Usage: torch_adam.py [threads]
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
for n, size in [(4, 250_000), (1, 1_000_000)]:
    ps = [torch.nn.Parameter(torch.empty(size).uniform_(-1, 1)) for _ in range(n)]
    for p in ps:
        p.grad = torch.empty(size).uniform_(-1e-2, 1e-2)
    opt = torch.optim.Adam(ps, foreach=True)
    for _ in range(50):
        opt.step()
    best = []
    for rep in range(5):
        t = time.perf_counter(); k = 400
        for _ in range(k):
            opt.step()
        best.append((time.perf_counter() - t) / k * 1e3)
    best.sort()
    print(f"torch adam {n}x{size}: median {best[2]:.3f} ms/step, min {best[0]:.3f} ms/step")
