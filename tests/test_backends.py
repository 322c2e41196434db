"""One test matrix for every backend of gaelib's core: numba, the numpy scan, the torch scan
on CPU tensors, and the torch scan on CUDA (skipped without a GPU).

Every test takes a ``backend`` name, converts its numpy inputs to that backend's arrays, and
runs gaelib inside ``_dispatch.forced(...)`` (or, for "default", as users call it); a new
backend is one more entry in BACKENDS.
The oracles are the plain loops and brute-force definitions of :mod:`gaelib.reference`.
"""

import contextlib

import numpy as np
import pytest
import torch

import gaelib
from gaelib import _dispatch, _kernels, _scan
from gaelib.reference import gae_loop, lambda_returns_bruteforce, masked_gae_loop, nstep_return

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # the GPU check may run where hypothesis is not installed
    given = None

CUDA = torch.cuda.is_available()
BACKENDS = [
    # "default": no backend forced, as users call gaelib (numpy inputs then take numba, plain
    # float32/float64 arrays with float gamma/lam through its fast path _dispatch.plain_numpy)
    pytest.param("default", marks=pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")),
    pytest.param("numba", marks=pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")),
    "numpy",
    "torch-cpu",
    pytest.param("torch-cuda", marks=pytest.mark.skipif(not CUDA, reason="no CUDA device")),
]
needs_hypothesis = pytest.mark.skipif(given is None, reason="hypothesis not installed")

TORCH_DTYPES = {np.float32: torch.float32, np.float64: torch.float64, "bfloat16": torch.bfloat16,
                np.float16: torch.float16}


class Backend:
    """Converts numpy inputs to one backend's arrays and runs gaelib on that backend."""

    def __init__(self, name):
        self.name = name
        self.engine = name.split("-")[0]
        self.device = name.split("-")[1] if "-" in name else None

    def __call__(self, x, dtype=None):
        """numpy -> this backend (floats in ``dtype``; ``"bfloat16"`` only for torch)."""
        if x is None or isinstance(x, (int, float)):
            return x
        x = np.asarray(x)
        if self.device is None:
            return x.astype(dtype) if dtype is not None and x.dtype.kind == "f" else x
        t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        if dtype is not None and x.dtype.kind == "f":
            t = t.to(TORCH_DTYPES[dtype])
        return t

    def numpy(self, y):
        if isinstance(y, torch.Tensor):
            return y.detach().cpu().double().numpy()
        return np.asarray(y, dtype=np.float64)

    def low_precision(self):
        return "bfloat16" if self.device else np.float16

    def run(self):
        return contextlib.nullcontext() if self.engine == "default" else _dispatch.forced(self.engine)


def _call(be, fn, *args, dtype=None, **kw):
    conv = {k: (be(v, dtype) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    with be.run():
        return fn(*(be(a, dtype) for a in args), **conv)


# --------------------------------------------------------------------------- a 2 x 5 case by hand
# gamma = lam = 0.5; env 0 terminates after step 1; env 1 is truncated after step 2 (V(final) = 4).
R = np.array([[1.0, 2.0, 0.0, 1.0, 1.0], [0.0, 1.0, 2.0, 0.0, 4.0]]).T
V = np.array([[1.0, 1.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 1.0, 1.0]]).T
TERM = np.zeros((5, 2), bool); TERM[1, 0] = True
TRUNC = np.zeros((5, 2), bool); TRUNC[2, 1] = True
NEXT = np.array([[1.0, 0.0, 2.0, 2.0, 4.0], [2.0, 2.0, 4.0, 1.0, 2.0]]).T
ADV = np.array([[0.75, 1.0, -0.9375, 0.25, 1.0], [-0.875, 0.5, 2.0, 0.5, 4.0]]).T


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_case(backend):
    be = Backend(backend)
    kw = dict(next_values=NEXT, terminated=TERM, truncated=TRUNC, gamma=0.5, lam=0.5)
    adv, ret = _call(be, gaelib.gae, R, V, **kw)
    np.testing.assert_allclose(be.numpy(adv), ADV, atol=1e-12)
    np.testing.assert_allclose(be.numpy(ret), ADV + V, atol=1e-12)
    np.testing.assert_allclose(be.numpy(_call(be, gaelib.lambda_returns, R, V, **kw)), ADV + V, atol=1e-12)


# --------------------------------------------------------------------------- hypothesis against the references


def _rollout(seed, T, batch, p_end, per_step, dtype_is_low):
    rng = np.random.default_rng(seed)
    shape = (T, *batch)
    term = rng.random(shape) < p_end
    trunc = (rng.random(shape) < p_end) & ~term
    values = rng.normal(size=shape)
    next_values = rng.normal(size=shape)  # inconsistent on purpose: V(s_(t+1)) != values[t+1]
    if per_step == "step":
        gamma, lam = rng.uniform(0.5, 1.0, shape), rng.uniform(0.0, 1.0, shape)
    elif per_step == "sequence" and batch:
        gamma, lam = 0.97, rng.uniform(0.0, 1.0, (1, *batch))
    else:
        gamma, lam = 0.99, 0.95
    return dict(rewards=rng.normal(size=shape), values=values, next_values=next_values,
                terminated=term, truncated=trunc, gamma=gamma, lam=lam)


def _rounded(d, dtype):
    """The inputs as the backend sees them (rounded to ``dtype``), in float64, for the oracle."""
    if dtype == "bfloat16":
        rnd = lambda x: torch.from_numpy(x).to(torch.bfloat16).double().numpy()  # noqa: E731
    else:
        rnd = lambda x: x.astype(dtype).astype(np.float64)  # noqa: E731
    return {k: (rnd(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" and k not in ("gamma", "lam")
                else v) for k, v in d.items()}


def _tolerance(dtype, expected):
    scale = max(1.0, float(np.abs(expected).max()))
    return {np.float64: 1e-6, np.float32: 1e-4, np.float16: 1e-2, "bfloat16": 2e-2}[dtype] * scale


if given is not None:
    @st.composite
    def cases(draw):
        return dict(seed=draw(st.integers(0, 2**31 - 1)), T=draw(st.integers(1, 70)),
                    batch=tuple(draw(st.lists(st.integers(1, 3), max_size=2))),
                    p_end=draw(st.sampled_from([0.0, 0.1, 0.5])),
                    per_step=draw(st.sampled_from(["scalar", "sequence", "step"])),
                    dtype=draw(st.sampled_from([np.float64, np.float32, "low"])))
else:  # pragma: no cover
    def cases():
        return None

    def given(*a, **k):  # noqa: F811
        return lambda f: f

    def settings(*a, **k):  # noqa: F811
        return lambda f: f


@needs_hypothesis
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(cases())
def test_gae_and_lambda_returns_match_the_references(backend, case):
    be = Backend(backend)
    dtype = be.low_precision() if case["dtype"] == "low" else case["dtype"]
    d = _rollout(case["seed"], case["T"], case["batch"], case["p_end"], case["per_step"], dtype)
    adv, ret = _call(be, gaelib.gae, dtype=dtype, **d)
    lam_ret = _call(be, gaelib.lambda_returns, dtype=dtype, **d)
    assert adv.dtype == ret.dtype == lam_ret.dtype
    o = _rounded(d, dtype)
    ref_adv, _ = gae_loop(**o)
    T = case["T"]
    cols = lambda x: np.asarray(x).reshape(T, -1)  # noqa: E731
    brute = np.stack([_lambda_return_oracle(o, j) for j in range(cols(o["rewards"]).shape[1])], axis=1)
    brute = brute.reshape(o["rewards"].shape)
    np.testing.assert_allclose(be.numpy(adv), ref_adv, atol=_tolerance(dtype, ref_adv), rtol=0)
    np.testing.assert_allclose(be.numpy(ret), be.numpy(adv) + o["values"], atol=_tolerance(dtype, ref_adv), rtol=0)
    np.testing.assert_allclose(be.numpy(lam_ret), brute, atol=_tolerance(dtype, brute), rtol=0)


def _lambda_return_oracle(o, j):
    """λ-returns of column ``j``: the brute-force average of n-step returns for constant γ and λ,
    else the textbook recursion written out step by step."""
    T = o["rewards"].shape[0]
    col = lambda x: np.broadcast_to(x, o["rewards"].shape).reshape(T, -1)[:, j]  # noqa: E731
    r, nv, term, trunc, g, lam = (col(o[k]) for k in ("rewards", "next_values", "terminated", "truncated",
                                                       "gamma", "lam"))
    if np.ndim(o["gamma"]) == 0 and np.ndim(o["lam"]) == 0:
        return lambda_returns_bruteforce(r, nv, term, trunc, o["gamma"], o["lam"])
    out, nxt = np.zeros(T), 0.0
    for t in reversed(range(T)):
        gt = 0.0 if term[t] else g[t]
        lt = 0.0 if (trunc[t] or t == T - 1) else lam[t]
        nxt = r[t] + gt * ((1 - lt) * nv[t] + lt * nxt)
        out[t] = nxt
    return out


@needs_hypothesis
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(cases())
def test_td_residuals_and_discounted_cumsum(backend, case):
    be = Backend(backend)
    d = _rollout(case["seed"], case["T"], case["batch"], case["p_end"], case["per_step"], np.float64)
    kw = {k: v for k, v in d.items() if k != "lam"}
    delta = _call(be, gaelib.td_residuals, **kw)
    g = np.broadcast_to(d["gamma"], d["rewards"].shape)
    expected = d["rewards"] + g * ~d["terminated"] * d["next_values"] - d["values"]
    np.testing.assert_allclose(be.numpy(delta), expected, atol=1e-9)
    done = d["terminated"] | d["truncated"]
    cs = _call(be, gaelib.discounted_cumsum, d["rewards"], d["gamma"], done=done)
    T = case["T"]
    flat = lambda x: np.broadcast_to(x, d["rewards"].shape).reshape(T, -1)  # noqa: E731
    zeros = np.zeros(T)
    for j in range(flat(d["rewards"]).shape[1]):
        if np.ndim(d["gamma"]) == 0:
            mc = [nstep_return(flat(d["rewards"])[:, j], zeros, flat(done)[:, j], zeros.astype(bool), t, T,
                               d["gamma"]) for t in range(T)]
            np.testing.assert_allclose(be.numpy(cs).reshape(T, -1)[:, j], mc, atol=1e-9)


@needs_hypothesis
@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 5), L=st.integers(1, 80),
       holes=st.sampled_from(["right", "interior", "none"]),
       per=st.sampled_from(["scalar", "sequence", "token", "mixed"]),
       dtype=st.sampled_from([np.float64, np.float32, "low"]))
def test_masked_gae_matches_the_verl_loop(backend, seed, B, L, holes, per, dtype):
    """``per``: γ and both λ per batch, per sequence or per token; "mixed" is γ per token, λ per sequence."""
    be = Backend(backend)
    dtype = be.low_precision() if dtype == "low" else dtype
    rng = np.random.default_rng(seed)
    if holes == "right":
        mask = np.arange(L)[None, :] < rng.integers(0, L + 1, B)[:, None]
    elif holes == "interior":
        mask = rng.random((B, L)) < 0.6
    else:
        mask = np.ones((B, L), bool)
    shapes = {"scalar": None, "sequence": [(B,)] * 3, "token": [(B, L)] * 3, "mixed": [(B, L), (B,), (B,)]}
    gamma, lam, lam_c = ((0.99, 0.95, 1.0) if shapes[per] is None else
                         tuple(rng.uniform(0.3, 1.0, shape) for shape in shapes[per]))
    d = dict(rewards=rng.normal(size=(B, L)), values=rng.normal(size=(B, L)))
    o = _rounded(d, dtype)
    adv, ret = _call(be, gaelib.masked_gae, d["rewards"], d["values"], mask, dtype=dtype,
                     gamma=gamma, lam=lam, lam_returns=lam_c)
    ref_adv, _ = masked_gae_loop(o["rewards"], o["values"], mask, gamma=gamma, lam=lam)
    ref_c, ref_ret = masked_gae_loop(o["rewards"], o["values"], mask, gamma=gamma, lam=lam_c)
    np.testing.assert_allclose(be.numpy(adv), ref_adv, atol=_tolerance(dtype, ref_adv), rtol=0)
    np.testing.assert_allclose(be.numpy(ret), ref_ret, atol=_tolerance(dtype, ref_ret), rtol=0)
    assert adv.dtype == ret.dtype
    assert (be.numpy(adv)[~mask] == 0).all() and (be.numpy(ret)[~mask] == 0).all()


# --------------------------------------------------------------------------- long sequences, exactly


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_sequence_is_exact(backend):
    """32,768 tokens with γλ = 0.95 in float32: (γλ)^t underflows long before the end, and no
    product is divided, so the scan stays within 1e-4 (relative) of a float64 loop."""
    be = Backend(backend)
    rng = np.random.default_rng(0)
    B, L = 3, 32_768
    r, v = rng.normal(size=(B, L)), rng.normal(size=(B, L))
    mask = np.arange(L)[None, :] < np.array([L, L - 1000, 17])[:, None]
    mask[1, 5000:5100] = False
    adv, ret = _call(be, gaelib.masked_gae, r, v, mask, dtype=np.float32, gamma=1.0, lam=0.95)
    ref, ref_ret = masked_gae_loop(r, v, mask, gamma=1.0, lam=0.95)
    assert np.abs(be.numpy(adv) - ref).max() / np.abs(ref).max() < 1e-4
    assert np.abs(be.numpy(ret) - ref_ret).max() / np.abs(ref_ret).max() < 1e-4
    # time-major, with episode ends
    term = rng.random((L, 2)) < 1e-3
    a32, _ = _call(be, gaelib.gae, r[:2].T.copy(), v[:2].T.copy(), last_value=0.0, terminated=term,
                   dtype=np.float32, gamma=0.999, lam=0.95)
    a64, _ = gae_loop(r[:2].T, v[:2].T, last_value=np.zeros(2), terminated=term, gamma=0.999, lam=0.95)
    assert np.abs(be.numpy(a32) - a64).max() / np.abs(a64).max() < 1e-4


def test_scan_never_divides():
    """Zero carries (episode ends) and underflowing products: the numpy scan equals the loop."""
    rng = np.random.default_rng(1)
    b = rng.normal(size=(1000, 3))
    a = np.where(rng.random((1000, 3)) < 0.05, 0.0, 0.5)  # 0.5^1000 underflows in float32
    x = np.zeros_like(b)
    nxt = np.zeros(3)
    for t in reversed(range(1000)):
        nxt = b[t] + a[t] * nxt
        x[t] = nxt
    for dt in (np.float32, np.float64):
        got = _scan.backward_scan(b.astype(dt), a.astype(dt))
        np.testing.assert_allclose(got, x, atol=1e-5 if dt == np.float32 else 1e-12)
        got_t = _scan.backward_scan(torch.from_numpy(b.astype(dt)), torch.from_numpy(a.astype(dt)))
        np.testing.assert_allclose(got_t.numpy(), x, atol=1e-5 if dt == np.float32 else 1e-12)


@pytest.mark.parametrize("chunk", [2, 3, 16, 64, 700, 4096])
def test_scan_is_exact_for_any_chunk_size(monkeypatch, chunk):
    """The chunk size (16 on CPUs, 4096 on accelerators; 700 and more: one level) changes the blocking, not the result;
    also along the last axis (batch-major tokens)."""
    rng = np.random.default_rng(3)
    b, a = rng.normal(size=(3, 700)), rng.uniform(0.0, 1.0, size=(3, 700))
    a[:, ::37] = 0.0
    x, nxt = np.zeros_like(b), np.zeros(3)
    for t in reversed(range(700)):
        nxt = b[:, t] + a[:, t] * nxt
        x[:, t] = nxt
    monkeypatch.setattr(_scan, "CHUNK", chunk)
    np.testing.assert_allclose(_scan.backward_scan(b, a, axis=1), x, atol=1e-12)
    np.testing.assert_allclose(_scan.backward_scan(b.T.copy(), a.T.copy()), x.T, atol=1e-12)
    got = _scan.backward_scan(torch.from_numpy(b), torch.from_numpy(a), axis=1)
    np.testing.assert_allclose(got.numpy(), x, atol=1e-12)
    # a new C-contiguous array; the inputs are left as they were
    b0, a0 = b.copy(), a.copy()
    out = _scan.backward_scan(b, a, axis=1)
    assert out.flags.c_contiguous and not np.shares_memory(out, b) and got.is_contiguous()
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(a, a0)


# --------------------------------------------------------------------------- the rules, on every backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_dtype_rule(backend):
    """Python scalars never widen; γ/λ arrays never widen; float16/bfloat16 are computed in
    float32 and returned in their own dtype; returns have the dtype of advantages."""
    be = Backend(backend)
    r32, v32 = R.astype(np.float32), V.astype(np.float32)
    for last_value in (0, 0.5, np.float64(0.5)):  # a Python int is accepted
        adv, ret = _call(be, gaelib.gae, r32, v32, last_value=last_value, gamma=1, lam=0.9)
        assert be.numpy(adv).shape == (5, 2) and adv.dtype == ret.dtype
        assert str(adv.dtype).endswith("float32")
    adv, _ = _call(be, gaelib.gae, r32, v32, last_value=0.0, gamma=np.full(2, 0.9), lam=0.9)
    assert str(adv.dtype).endswith("float32")
    low = be.low_precision()
    adv, ret = _call(be, gaelib.gae, R, V, next_values=NEXT, terminated=TERM, truncated=TRUNC,
                     gamma=0.5, lam=0.5, dtype=low)
    assert adv.dtype == ret.dtype and "16" in str(adv.dtype)
    np.testing.assert_allclose(be.numpy(adv), ADV, atol=2e-2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_overflow_on_the_cast_back_is_caught(backend):
    be = Backend(backend)
    big = np.array([[60000.0], [40000.0]])  # 100,000 fits float32, not float16 (max 65,504)
    if be.device is not None:
        dtype = torch.float16
        args = [torch.from_numpy(x).to(be.device).to(dtype) for x in (big, np.zeros((2, 1)))]
    else:
        args = [x.astype(np.float16) for x in (big, np.zeros((2, 1)))]
    with be.run(), pytest.raises(ValueError, match="overflowed float16"):
        gaelib.gae(*args, last_value=0.0, gamma=1.0, lam=1.0)


BAD = [
    (dict(rewards=np.array([[1.0, np.nan], [0, 0], [0, 0]])), ValueError, "rewards contains NaN"),
    (dict(values=np.array([[1.0, np.inf], [0, 0], [0, 0]])), ValueError, "values contains NaN"),
    (dict(last_value=np.array([np.nan, 0.0])), ValueError, "last_value contains NaN"),
    (dict(last_value=float("nan")), ValueError, "last_value contains NaN"),
    (dict(gamma=None), TypeError, "gamma is required"),
    (dict(lam=None), TypeError, "lam is required"),
    (dict(gamma=np.full(3, 0.9)), ValueError, r"gamma has shape \(3,\)"),
    (dict(lam=np.full((3, 2), 1.5)), ValueError, r"lam must lie in \[0, 1\]"),
    (dict(terminated=np.zeros((3, 1), bool)), ValueError, r"terminated has shape \(3, 1\)"),
    (dict(last_value=np.zeros(3)), ValueError, r"last_value has shape \(3,\)"),
    (dict(rewards=np.zeros((3, 2), np.int64)), TypeError, "rewards must be a floating-point"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, exc, message", BAD)
def test_same_errors_on_every_backend(backend, kwargs, exc, message):
    be = Backend(backend)
    args = dict(rewards=np.ones((3, 2)), values=np.zeros((3, 2)), last_value=np.zeros(2), gamma=0.9, lam=0.9)
    args.update(kwargs)
    with pytest.raises(exc, match=message):
        _call(be, gaelib.gae, **args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gamma_and_lam_are_required_by_every_estimator(backend):
    be = Backend(backend)
    with pytest.raises(TypeError, match="gamma is required"):
        _call(be, gaelib.td_residuals, R, V, last_value=np.zeros(2), gamma=None)
    with pytest.raises(TypeError, match="lam is required"):
        _call(be, gaelib.lambda_returns, R, V, last_value=np.zeros(2), gamma=0.9, lam=None)
    with pytest.raises(TypeError, match="discount is required"):
        _call(be, gaelib.discounted_cumsum, R, None)
    with pytest.raises(TypeError, match="lam is required"):
        _call(be, gaelib.masked_gae, R.T, V.T, np.ones((2, 5), bool), gamma=1.0, lam=None)
    with pytest.raises(ValueError, match=r"lam has shape \(5,\)"):
        _call(be, gaelib.masked_gae, R.T, V.T, np.ones((2, 5), bool), gamma=1.0, lam=np.full(5, 0.9))


@pytest.mark.parametrize("backend", BACKENDS)
def test_lambda_returns_use_their_own_recursion_everywhere(backend):
    """With next_values[t] != values[t+1] inside an episode, λ-returns differ from GAE + V;
    every backend computes the recursion (accelerators once returned GAE + V)."""
    be = Backend(backend)
    rng = np.random.default_rng(5)
    r, v, nv = (rng.normal(size=(6, 3)) for _ in range(3))
    lam_ret = be.numpy(_call(be, gaelib.lambda_returns, r, v, next_values=nv, gamma=0.9, lam=0.8))
    adv, _ = gae_loop(r, v, next_values=nv, gamma=0.9, lam=0.8)
    o = dict(rewards=r, next_values=nv, terminated=np.zeros((6, 3), bool), truncated=np.zeros((6, 3), bool),
             gamma=0.9, lam=0.8)
    expected = np.stack([_lambda_return_oracle(o, j) for j in range(3)], axis=1)
    np.testing.assert_allclose(lam_ret, expected, atol=1e-12)
    assert np.abs(lam_ret - (adv + v)).max() > 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_next_values_and_in_masked_tokens_is_reported(backend):
    be = Backend(backend)
    nv = NEXT.copy(); nv[1, 0] = np.nan  # a terminated step: its V(s_(t+1)) is unused, but NaN is an error
    with pytest.raises(ValueError, match="next_values contains NaN"):
        _call(be, gaelib.gae, R, V, next_values=nv, terminated=TERM, gamma=0.5, lam=0.5)
    v = np.array([[0.5, np.nan]])
    with pytest.raises(ValueError, match="values contains NaN"):
        _call(be, gaelib.masked_gae, np.ones((1, 2)), v, np.array([[1, 0]]), gamma=1.0, lam=1.0)
    with pytest.raises(ValueError, match="values contains NaN"):
        _call(be, gaelib.lambda_returns, R, np.full((5, 2), np.nan), last_value=np.zeros(2), gamma=0.5, lam=0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ambiguous_per_step_gamma_is_refused_with_the_fix(backend):
    """A (T,) γ with T equal to the batch size: per sequence or per step? Refused; both fixes work."""
    be = Backend(backend)
    rng = np.random.default_rng(2)
    r, v = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    g = np.array([0.5, 0.9, 1.0])
    with pytest.raises(ValueError, match=r"gamma has shape \(3,\), ambiguous.*\(1, 3\).*per step"):
        _call(be, gaelib.gae, r, v, last_value=np.zeros(3), gamma=g, lam=0.9)
    per_seq, _ = _call(be, gaelib.gae, r, v, last_value=np.zeros(3), gamma=g[None, :], lam=0.9)
    per_step, _ = _call(be, gaelib.gae, r, v, last_value=np.zeros(3),
                        gamma=np.ascontiguousarray(np.broadcast_to(g[:, None], (3, 3))), lam=0.9)
    np.testing.assert_allclose(be.numpy(per_seq), gae_loop(r, v, last_value=np.zeros(3), gamma=g, lam=0.9)[0])
    np.testing.assert_allclose(be.numpy(per_step),
                               gae_loop(r, v, last_value=np.zeros(3), gamma=np.broadcast_to(g[:, None], (3, 3)),
                                        lam=0.9)[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_stay_on_the_device_without_gradient(backend):
    be = Backend(backend)
    if be.device is None:
        pytest.skip("torch only")
    r = torch.tensor(R, device=be.device)
    v = torch.tensor(V, device=be.device, requires_grad=True)
    with be.run():
        adv, ret = gaelib.gae(r, v, last_value=0.0, gamma=0.5, lam=0.5)
        adv2, ret2 = gaelib.masked_gae(r.T, v.T, torch.ones(2, 5, dtype=torch.bool, device=be.device),
                                       gamma=1.0, lam=0.9)
    for x in (adv, ret, adv2, ret2):
        assert x.device == r.device and not x.requires_grad


# --------------------------------------------------------------------------- inputs numpy cannot compute silently


def test_masked_arrays_longdouble_and_big_endian():
    with pytest.raises(TypeError, match="rewards is a numpy masked array"):
        gaelib.gae(np.ma.array(R, mask=R > 1), V, last_value=np.zeros(2), gamma=0.9, lam=0.9)
    with pytest.raises(TypeError, match="values has dtype float128|values has dtype longdouble"):
        gaelib.gae(R, V.astype(np.longdouble), last_value=np.zeros(2), gamma=0.9, lam=0.9)
    big = R.astype(">f8")
    adv, _ = gaelib.gae(big, V, next_values=NEXT, terminated=TERM, truncated=TRUNC, gamma=0.5, lam=0.5)
    assert adv.dtype == np.float64 and adv.dtype.isnative
    np.testing.assert_allclose(adv, ADV)


def test_forced_backend_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="backend must be one of"):
        with _dispatch.forced("jax"):
            pass
    with _dispatch.forced("torch"), pytest.raises(ValueError, match="cannot run numpy"):
        gaelib.gae(R, V, last_value=np.zeros(2), gamma=0.9, lam=0.9)


def test_default_backend_choice():
    assert _dispatch.choose("numpy", R) == ("numba" if _kernels.HAVE_NUMBA else "numpy")
    assert _dispatch.choose("torch", torch.zeros(1)) == ("numba" if _kernels.HAVE_NUMBA else "torch")
    if CUDA:
        assert _dispatch.choose("torch", torch.zeros(1, device="cuda")) == "torch"



# --------------------------------------------------------------------------- the fast path of plain numpy inputs


@pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", ["gae", "td_residuals"])
@pytest.mark.parametrize("bootstrap", ["next_values", "last_value_array", "last_value_number"])
def test_plain_numpy_fast_path_equals_the_general_path(dtype, fn, bootstrap):
    """Plain inputs take ``_dispatch.plain_numpy``; its results are the general numba path's, bit for bit."""
    rng = np.random.default_rng(3)
    T, N = 7, 3
    r, v, nv = (rng.normal(size=(T, N)).astype(dtype) for _ in range(3))
    term = rng.random((T, N)) < 0.2
    trunc = np.zeros((T, N), bool)
    trunc[-1, 0] = True
    kw = {"next_values": dict(next_values=nv), "last_value_array": dict(last_value=nv[-1]),
          "last_value_number": dict(last_value=2)}[bootstrap]
    kw.update(terminated=term, truncated=trunc, gamma=0.9)
    if fn == "gae":
        kw["lam"] = 0.7
    lv = kw.get("last_value")
    fast = _dispatch.plain_numpy("gae" if fn == "gae" else "td", r, v, kw.get("next_values"), lv, term, trunc,
                                 0.9, kw.get("lam", 0.0), fn == "gae")
    assert fast is not None  # these inputs are the common case
    plain = getattr(gaelib, fn)(r, v, **kw)
    with _dispatch.forced("numba"):
        general = getattr(gaelib, fn)(r, v, **kw)
    for a, b in zip(np.atleast_1d(plain) if fn == "td_residuals" else plain,
                    np.atleast_1d(general) if fn == "td_residuals" else general):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fast[0], plain if fn == "td_residuals" else plain.advantages)


@pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")
def test_plain_numpy_fast_path_declines_what_it_does_not_cover():
    """Anything but the common case returns None, and the general path validates (and raises) as usual."""
    r = np.ones((4, 2))
    args = dict(next_values=None, last_value=0.0, terminated=None, truncated=None, gamma=0.9, lam=0.9)

    def fast(**kw):
        a = {**args, **kw}
        return _dispatch.plain_numpy("gae", a.pop("rewards", r), a.pop("values", r), a["next_values"],
                                     a["last_value"], a["terminated"], a["truncated"], a["gamma"], a["lam"], True)

    assert fast() is not None
    for kw in [dict(rewards=r.T.copy().T), dict(values=r.astype(np.float32)), dict(gamma=np.float64(0.9)),
               dict(gamma=1), dict(lam=1.5), dict(terminated=np.zeros((4, 2))), dict(last_value=float("nan")),
               dict(last_value=True), dict(values=np.full((4, 2), np.inf)), dict(rewards=np.ones((4, 0))),
               dict(truncated=np.eye(4, 2, dtype=bool))]:
        assert fast(**kw) is None, kw
    with pytest.raises(ValueError, match="values contains NaN or infinite"):
        gaelib.gae(r, np.full((4, 2), np.inf), last_value=0.0, gamma=0.9, lam=0.9)
    with pytest.raises(ValueError, match="truncated\\[0\\] is set inside the rollout"):
        gaelib.gae(r, r, last_value=0.0, truncated=np.eye(4, 2, dtype=bool), gamma=0.9, lam=0.9)


# --------------------------------------------------------------------------- the numba kernel's blocks of rows


@pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("shape", [(300, 64), (9, 4096), (1, 100), (2, 70000)])
@pytest.mark.parametrize("bootstrap", ["next_values", "last_value"])
def test_blocks_of_rows_match_the_loop(shape, bootstrap):
    """Wide batches are walked in several blocks of rows (``_kernels._BLOCK``); the carry crosses them."""
    T, N = shape
    assert N >= _kernels._WIDE
    rng = np.random.default_rng(T * N)
    r, v, nv = (rng.normal(size=shape) for _ in range(3))
    term = rng.random(shape) < 0.05
    trunc = rng.random(shape) < 0.05 if bootstrap == "next_values" else np.zeros(shape, bool)
    gamma = rng.uniform(0.8, 1.0, size=shape)  # per step
    kw = dict(next_values=nv) if bootstrap == "next_values" else dict(last_value=nv[-1])
    ref_adv, ref_ret = gae_loop(r, v, terminated=term, truncated=trunc, gamma=gamma, lam=0.9, **kw)
    adv, ret = gaelib.gae(r, v, terminated=term, truncated=trunc, gamma=gamma, lam=0.9, **kw)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret, ref_ret, rtol=1e-10, atol=1e-10)
    r32, v32 = r.astype(np.float32), v.astype(np.float32)
    kw32 = {k: x.astype(np.float32) for k, x in kw.items()}
    adv32, _ = gaelib.gae(r32, v32, terminated=term, truncated=trunc, gamma=0.99, lam=0.9, **kw32)  # fast path
    ref32, _ = gae_loop(r32, v32, terminated=term, truncated=trunc, gamma=0.99, lam=0.9, **kw32)
    np.testing.assert_allclose(adv32, ref32, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_non_finite_value_in_any_block_is_caught(where):
    T, N = 40, 4096  # 4 rows per block: 10 blocks
    r, v = np.zeros((T, N), np.float32), np.zeros((T, N), np.float32)
    t = {"first": 0, "middle": 17, "last": T - 1}[where]
    v[t, 5] = np.nan
    with pytest.raises(ValueError, match="values contains NaN"):
        gaelib.gae(r, v, last_value=0.0, gamma=0.99, lam=0.95)
    r[t, 5], v[t, 5] = 3e38, -1e38  # finite inputs whose TD residual overflows float32
    with pytest.raises(ValueError, match="overflowed float32"):
        gaelib.gae(r, v, last_value=0.0, gamma=0.99, lam=0.95)
