# Peer of benches/matmul.rs: torch.matmul f32 (and f64) n x n, default threads capped at 2 as the anchors.
# Checks the product against numpy's before timing. Usage: torch_matmul.py [threads]
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
for dtype, n in [(torch.float32, 1024), (torch.float32, 2048), (torch.float64, 1024)]:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    c = torch.matmul(a, b)
    ref = a.double().numpy() @ b.double().numpy()
    assert abs(c.double().numpy() - ref).max() <= 1e-2 * abs(ref).max(), "torch.matmul disagrees with numpy"
    for _ in range(3):
        torch.matmul(a, b)
    ts = []
    for _ in range(15):
        t = time.perf_counter(); torch.matmul(a, b); ts.append(time.perf_counter() - t)
    ts.sort()
    mean = sum(ts) / len(ts)
    print(f"torch matmul {str(dtype)[6:]} {n}: mean {mean*1e3:.3f} ms, median {ts[len(ts)//2]*1e3:.3f} ms, "
          f"min {ts[0]*1e3:.3f} ms ({2*n**3/mean/1e9:.1f} GFLOP/s)")
