#!/usr/bin/env bash
# The GPU check of gaelib's core, in one short run (well under 5 minutes on one GPU).
#
#   OUT=/some/dir bash benchmarks/gpu_check.sh      # from the repository root
#
# For a machine with CUDA and torch but no internet: it uses whatever python3 is there and
# degrades gracefully (numba, hypothesis and pytest are optional). It writes to $OUT:
#   env.txt            python, torch, GPU, which optional packages were found
#   tests_cuda.txt     the CUDA column of tests/test_backends.py (pytest -k cuda), or, without
#                      pytest, a standalone comparison of the CUDA scan with the reference loops
#   gae_kernels_cuda.md  benchmarks/gae_kernels.py --device cuda (token loop on 2 repeats)
# Every step runs under its own time limit, and a failing step does not stop the next one.
set -u -o pipefail
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONHASHSEED=0 OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
status=0

$PY - <<'EOF' 2>&1 | tee "$OUT/env.txt"
import importlib.util, platform, sys
import torch
print("python", sys.version.split()[0], platform.machine())
print("torch", torch.__version__, "cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0))
for name in ("numpy", "numba", "hypothesis", "pytest"):
    print(name, "found" if importlib.util.find_spec(name) else "MISSING")
EOF

# 1. the CUDA column of the backend test matrix
if $PY -c "import pytest" 2>/dev/null; then
    timeout 120 $PY -m pytest -q -rs -p no:cacheprovider tests/test_backends.py -k cuda 2>&1 \
        | tee "$OUT/tests_cuda.txt" || status=1
else
    timeout 120 $PY - <<'EOF' 2>&1 | tee "$OUT/tests_cuda.txt" || status=1
# Without pytest: the CUDA scan against the reference loops on random cases.
import numpy as np, torch
import gaelib
from gaelib.reference import gae_loop, masked_gae_loop
assert torch.cuda.is_available(), "no CUDA device"
dev = "cuda"
rng = np.random.default_rng(0)
worst = {}
for trial in range(40):
    T, N = int(rng.integers(1, 300)), int(rng.integers(1, 5))
    r, v, nv = (rng.normal(size=(T, N)) for _ in range(3))
    term = rng.random((T, N)) < 0.1
    trunc = (rng.random((T, N)) < 0.1) & ~term
    g, lam = rng.uniform(0.5, 1, (T, N)), rng.uniform(0, 1, N)
    ref, _ = gae_loop(r, v, next_values=nv, terminated=term, truncated=trunc, gamma=g, lam=lam)
    for dt, tol in ((torch.float64, 1e-6), (torch.float32, 1e-4)):
        t = lambda x: torch.from_numpy(np.asarray(x)).to(dev)  # noqa: E731
        adv, ret = gaelib.gae(t(r).to(dt), t(v).to(dt), next_values=t(nv).to(dt), terminated=t(term),
                              truncated=t(trunc), gamma=t(g), lam=t(lam))
        assert adv.device.type == "cuda" and adv.dtype == ret.dtype == dt
        err = float(np.abs(adv.double().cpu().numpy() - ref).max()) / max(1.0, float(np.abs(ref).max()))
        worst[("gae", str(dt))] = max(worst.get(("gae", str(dt)), 0.0), err)
        assert err < tol, (trial, dt, err)
    B, L = int(rng.integers(1, 6)), int(rng.integers(1, 200))
    mask = rng.random((B, L)) < 0.7
    rr, vv = rng.normal(size=(B, L)), rng.normal(size=(B, L))
    ref, _ = masked_gae_loop(rr, vv, mask, gamma=1.0, lam=0.95)
    adv, _ = gaelib.masked_gae(torch.tensor(rr, device=dev), torch.tensor(vv, device=dev),
                               torch.tensor(mask, device=dev), gamma=1.0, lam=0.95)
    err = float(np.abs(adv.cpu().numpy() - ref).max())
    worst[("masked", "float64")] = max(worst.get(("masked", "float64"), 0.0), err)
    assert err < 1e-6, (trial, err)
r, v = rng.normal(size=(3, 32768)), rng.normal(size=(3, 32768))
mask = np.ones((3, 32768), bool)
ref, _ = masked_gae_loop(r, v, mask, gamma=1.0, lam=0.95)
adv, _ = gaelib.masked_gae(torch.tensor(r, device=dev, dtype=torch.float32),
                           torch.tensor(v, device=dev, dtype=torch.float32),
                           torch.tensor(mask, device=dev), gamma=1.0, lam=0.95)
err = float(np.abs(adv.double().cpu().numpy() - ref).max() / np.abs(ref).max())
assert err < 1e-4, err
print("worst relative errors:", worst, "32768 tokens float32:", err)
print("standalone CUDA check passed")
EOF
fi

# 2. the GPU benchmark (ratios to a token loop, a slime-style chunked scan and a device copy)
timeout 150 $PY benchmarks/gae_kernels.py --device cuda --repeats 11 --loop-repeats 2 \
    --out "$OUT/gae_kernels_cuda.md" 2>&1 | tee "$OUT/bench_log.txt" || status=1

echo "gpu_check finished with status $status; results in $OUT"
exit $status
