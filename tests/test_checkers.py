"""Tests of the assignment checkers: a correct solution passes, each typical bug is caught
with the right hint, and errors become feedback rather than tracebacks.

The student functions below are written the way students write them (explicit loops over
time), independently of gaelib, so that the checkers are tested against real code.
"""

import numpy as np
import pytest

from gaelib.checkers import cases as checker_cases
from gaelib.checkers import (
    check_discounted_cumsum,
    check_gae,
    check_lambda_returns,
    check_td_residuals,
    check_token_level_gae,
)

# --------------------------------------------------------------------------- student GAE, with switchable bugs


def make_gae(bug=None):
    """A loop GAE as a student writes it; `bug` switches on one classic mistake."""

    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        T = len(rewards)
        adv = np.zeros_like(rewards)
        last = np.zeros_like(rewards[0])
        for t in reversed(range(T)):
            nv = next_values[t]
            if bug == "values_t":
                nv = values[t]
            if bug == "values_t_plus_1":
                nv = values[t + 1] if t + 1 < T else np.zeros_like(values[t])
            end = terminated[t]
            if bug == "trunc_as_term":
                end = terminated[t] | truncated[t]
            nonterminal = 1.0 - end
            if bug == "ignore_term":
                nonterminal = 1.0
            delta = rewards[t] + gamma * nonterminal * nv - values[t]
            cont = nonterminal * (1.0 - truncated[t])
            if bug == "trace_leaks":
                cont = nonterminal
            factor = gamma * lam
            if bug == "gamma_only":
                factor = gamma
            last = delta + factor * cont * last
            adv[t] = last
        if bug == "returns":
            return adv + values
        return adv

    return student_gae


def test_correct_gae_passes():
    res = check_gae(make_gae(), verbose=False)
    assert res.passed and bool(res)
    assert res.n_cases > 50 and res.n_passed == res.n_cases
    assert res.first_failure is None


@pytest.mark.parametrize("bug, hint", [
    ("trunc_as_term", "truncation treated as termination"),
    ("values_t", "off by one: you used values[t] where V(s_(t+1))"),
    ("values_t_plus_1", "the last step bootstraps from 0"),
    ("returns", "returned the returns (advantages + values) instead of the advantages"),
    ("ignore_term", "termination is ignored"),
    ("trace_leaks", "λ-trace leaks across a truncation"),
    ("gamma_only", "uses gamma where it needs gamma*lam"),
])
def test_gae_bug_is_caught_with_its_hint(bug, hint):
    res = check_gae(make_gae(bug), verbose=False)
    assert not res.passed
    f = res.first_failure
    assert f is not None and f.error is None
    assert hint in f.hint, f.hint
    assert not np.allclose(f.got, f.expected)
    assert f"case {f.index}" in res.message and "expected" in res.message and "hint:" in res.message


def test_first_failure_is_the_first_edge_case_that_exposes_the_bug():
    # truncation treated as termination is invisible until the first case with a truncation
    res = check_gae(make_gae("trunc_as_term"), verbose=False)
    assert "truncation in the middle" in res.first_failure.description
    assert res.first_failure.inputs["truncated"].any()


def test_values_t_plus_1_is_caught_at_the_mid_rollout_truncation_when_last_step_is_right():
    def student(rewards, values, next_values, terminated, truncated, gamma, lam):
        nv = np.concatenate([values[1:], next_values[-1:]])  # ignores next_values inside the rollout
        return make_gae()(rewards, values, nv, terminated, truncated, gamma, lam)

    res = check_gae(student, verbose=False)
    assert "instead of next_values[t]" in res.first_failure.hint
    assert "truncation in the middle" in res.first_failure.description


def test_not_implemented_prints_one_clear_line(capsys):
    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        raise NotImplementedError

    res = check_gae(student_gae)
    out = capsys.readouterr().out
    assert res.not_implemented and not res.passed and res.n_passed == 0
    assert "not implemented yet" in out and "Traceback" not in out
    assert out.count("\n") <= 2  # one sentence, wrapped
    assert "not implemented" in repr(res)


def test_an_exception_becomes_feedback_with_the_line():
    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        out = np.zeros_like(rewards)
        for t in range(len(rewards)):
            out[t] = rewards[t] + gamma * values[t + 1] - values[t]  # IndexError at the last step
        return out

    res = check_gae(student_gae, verbose=False)
    assert not res.passed
    assert res.first_failure.index == 0  # T = 1 fails at once
    assert res.first_failure.error.startswith("IndexError")
    assert "values[t + 1]" in res.first_failure.error  # the offending line is quoted
    assert "Traceback" not in res.message


def test_seed_listing_broadcast_bug_gets_a_shape_hint():
    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        v = values.reshape(-1, 1)  # what a Dense(1) critic returns: shape (T, 1)
        return rewards - v

    res = check_gae(student_gae, verbose=False)
    assert "broadcast" in res.first_failure.hint


def test_dropping_batch_axes_gets_a_hint():
    good = make_gae()

    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        out = good(rewards, values, next_values, terminated, truncated, gamma, lam)
        return out.reshape(len(rewards), -1)[:, 0] if out.ndim > 1 else out

    res = check_gae(student_gae, verbose=False)
    assert "keep the batch axes" in res.first_failure.hint
    assert "batch shape" in res.first_failure.description


def test_returning_none_or_a_tuple():
    res = check_gae(lambda *a: None, verbose=False)
    assert "return" in res.first_failure.hint
    good = make_gae()
    res = check_gae(lambda *a: (good(*a), good(*a)), verbose=False)
    assert "tuple" in res.first_failure.hint


def test_unknown_bug_gets_a_location_hint():
    good = make_gae()

    def student_gae(*args):
        out = good(*args)
        out[0] += 0.1  # an arbitrary error at t = 0
        return out

    res = check_gae(student_gae, verbose=False)
    assert "no common bug matches" in res.first_failure.hint
    assert "t = [0]" in res.first_failure.hint


def test_input_mutation_fails_the_case_and_inputs_are_protected():
    good = make_gae()

    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        out = good(rewards, values, next_values, terminated, truncated, gamma, lam)
        rewards *= 0.0  # modifies the caller's array; the output itself is right
        return out

    res = check_gae(student_gae, verbose=False)
    assert not res.passed and res.n_passed == 0
    assert res.first_failure.index == 0
    assert "modified its input(s) ['rewards']" in res.first_failure.hint
    assert res.first_failure.inputs["rewards"].any()  # the checker kept its own copy


def test_float32_and_torch_outputs_are_accepted():
    torch = pytest.importorskip("torch")
    good = make_gae()
    assert check_gae(lambda *a: good(*a).astype(np.float32), verbose=False).passed
    assert check_gae(lambda *a: torch.as_tensor(good(*a)), verbose=False).passed


def test_cases_are_deterministic_and_seeded():
    def cases(seed):
        return checker_cases.episode_cases(checker_cases.reference_gae, lam=True, truncation_arg=True,
                                           n_random=5, seed=seed)
    a, b, c = cases(3), cases(3), cases(4)
    assert all(np.array_equal(x.expected, y.expected) for x, y in zip(a, b))
    assert not all(np.array_equal(x.expected, y.expected) for x, y in zip(a[-5:], c[-5:]))


def test_edge_cases_cover_the_brief():
    descs = [c.description for c in
             checker_cases.episode_cases(checker_cases.reference_gae, lam=True, truncation_arg=True,
                                         n_random=0, seed=0)]
    text = " | ".join(descs)
    for needle in ["T = 1", "termination at the first step", "termination at the last step",
                   "truncation in the middle", "gamma = 0", "lam = 0", "lam = 1", "batch shape (3,)",
                   "batch shape (2, 3)"]:
        assert needle in text, needle
    assert descs[0].startswith("T = 1")


# --------------------------------------------------------------------------- TD residuals


def student_td(rewards, values, next_values, terminated, gamma):
    return rewards + gamma * (1.0 - terminated) * next_values - values


def test_td_residuals_correct_and_bugs():
    assert check_td_residuals(student_td, verbose=False).passed
    res = check_td_residuals(lambda r, v, nv, d, g: r + g * nv - v, verbose=False)
    assert "termination is ignored" in res.first_failure.hint
    res = check_td_residuals(lambda r, v, nv, d, g: r + g * (1.0 - d) * v - v, verbose=False)
    assert "off by one" in res.first_failure.hint
    res = check_td_residuals(lambda r, v, nv, d, g: r + (1.0 - d) * nv - v, verbose=False)
    assert "gamma is missing" in res.first_failure.hint
    res = check_td_residuals(lambda r, v, nv, d, g: v - r - g * (1.0 - d) * nv, verbose=False)
    assert "sign is flipped" in res.first_failure.hint

    def shifted(r, v, nv, d, g):
        return r + g * (1.0 - d) * np.concatenate([v[1:], nv[-1:]]) - v
    res = check_td_residuals(shifted, verbose=False)
    assert "instead of next_values[t]" in res.first_failure.hint


# --------------------------------------------------------------------------- λ-returns


def test_lambda_returns_correct_and_bugs():
    good = make_gae()

    def via_gae(*a):
        return good(*a) + a[1]

    def recursion(rewards, values, next_values, terminated, truncated, gamma, lam):
        T = len(rewards)
        G = np.zeros_like(rewards)
        nxt = np.zeros_like(rewards[0])
        for t in reversed(range(T)):
            c = (1.0 - truncated[t]) * (t < T - 1)
            g = gamma * (1.0 - terminated[t])
            nxt = rewards[t] + g * ((1 - lam * c) * next_values[t] + lam * c * nxt)
            G[t] = nxt
        return G

    assert check_lambda_returns(via_gae, verbose=False).passed
    assert check_lambda_returns(recursion, verbose=False).passed
    res = check_lambda_returns(good, verbose=False)
    assert "advantages instead of the λ-returns" in res.first_failure.hint
    res = check_lambda_returns(lambda *a: make_gae("trunc_as_term")(*a) + a[1], verbose=False)
    assert "truncation treated as termination" in res.first_failure.hint

    def reward_to_go(rewards, values, next_values, terminated, truncated, gamma, lam):
        G = np.zeros_like(rewards)
        acc = np.zeros_like(rewards[0])
        for t in reversed(range(len(rewards))):
            acc = rewards[t] + gamma * (1.0 - (terminated[t] | truncated[t])) * acc
            G[t] = acc
        return G
    res = check_lambda_returns(reward_to_go, verbose=False)
    assert "Monte Carlo reward-to-go" in res.first_failure.hint


# --------------------------------------------------------------------------- discounted cumsum


def make_cumsum(bug=None):
    def student(x, discount, done):
        y = np.zeros_like(x)
        acc = np.zeros_like(x[0])
        T = len(x)
        for t in reversed(range(T)):
            d = done[t]
            if bug == "ignore_done":
                d = np.zeros_like(done[t])
            if bug == "done_next":
                d = done[t + 1] if t + 1 < T else np.zeros_like(done[t])
            acc = x[t] + discount * (1.0 - d) * acc
            y[t] = acc
        return y
    return student


@pytest.mark.parametrize("bug, hint", [
    (None, None),
    ("ignore_done", "done is ignored"),
    ("done_next", "you read done[t+1]"),
])
def test_discounted_cumsum(bug, hint):
    res = check_discounted_cumsum(make_cumsum(bug), verbose=False)
    if hint is None:
        assert res.passed
    else:
        assert hint in res.first_failure.hint


def test_discounted_cumsum_forward_bug():
    def forward(x, discount, done):
        y = np.zeros_like(x)
        acc = np.zeros_like(x[0])
        for t in range(len(x)):
            acc = x[t] + discount * acc
            y[t] = acc
            acc = acc * (1.0 - done[t])
        return y
    res = check_discounted_cumsum(forward, verbose=False)
    assert "forwards in time" in res.first_failure.hint


# --------------------------------------------------------------------------- token level


def make_token_gae(bug=None):
    """Batch-major token GAE that skips masked tokens (verl), with switchable bugs."""

    def student_token_gae(rewards, values, mask, gamma, lam):
        B, T = rewards.shape
        adv = np.zeros_like(rewards)
        for b in range(B):
            idx = np.arange(T) if bug == "ignore_mask" else np.flatnonzero(mask[b])
            if bug == "zero_gap":
                idx = np.arange(T)
            r = rewards[b, idx] * (mask[b, idx] if bug in ("zero_gap", "ignore_mask") else 1.0)
            v = values[b, idx] * (mask[b, idx] if bug == "zero_gap" else 1.0)
            last, nxt = 0.0, 0.0
            if bug == "bootstrap_self":
                nxt = v[-1]
            for k in reversed(range(len(idx))):
                delta = r[k] + gamma * nxt - v[k]
                last = delta + gamma * lam * last
                adv[b, idx[k]] = last
                nxt = v[k]
        if bug != "nonzero_pads":
            adv = adv * mask
        if bug == "nonzero_pads":
            adv = adv + (1 - mask) * 0.5
        return adv

    return student_token_gae


@pytest.mark.parametrize("bug, hint", [
    (None, None),
    ("ignore_mask", "padding is treated as part of the response"),
    ("bootstrap_self", "bootstraps from its own value"),
    ("nonzero_pads", "not 0 where mask == 0"),
    ("zero_gap", "at a masked gap"),
])
def test_token_level_gae(bug, hint):
    res = check_token_level_gae(make_token_gae(bug), verbose=False)
    if hint is None:
        assert res.passed, res.message
    else:
        assert not res.passed
        assert hint in res.first_failure.hint, res.first_failure.hint


def test_token_level_right_padding_only_accepts_openrlhf_style():
    # without interior masks, zeroing values and rewards at pads (OpenRLHF) is correct
    res = check_token_level_gae(make_token_gae("zero_gap"), interior_masks=False, verbose=False)
    assert res.passed, res.message
    res = check_token_level_gae(make_token_gae("zero_gap"), verbose=False)
    assert "multi-turn" in res.first_failure.description


def test_token_level_not_implemented(capsys):
    def student_token_gae(rewards, values, mask, gamma, lam):
        raise NotImplementedError("write me")

    res = check_token_level_gae(student_token_gae)
    assert res.not_implemented
    assert "not implemented yet" in capsys.readouterr().out


def test_printed_feedback_shows_inputs_expected_and_got(capsys):
    check_gae(make_gae("trunc_as_term"))
    out = capsys.readouterr().out
    for word in ["case:", "rewards", "next_values", "truncated", "expected", "got", "hint:"]:
        assert word in out


# --------------------------------------------------------------------------- untrusted student code


def test_infinite_loop_times_out_and_stops_the_run():
    def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
        while True:
            pass

    res = check_gae(student_gae, verbose=False, time_limit=0.2)
    assert not res.passed and res.timed_out and res.n_passed == 0
    assert res.first_failure.index == 0
    assert res.first_failure.error.startswith("TimeLimitExceeded")
    assert "not run" in res.message


def test_a_function_that_swallows_the_first_timeout_still_stops():
    import time

    def student_gae(*args):
        try:
            time.sleep(60)
        except BaseException:  # noqa: BLE001 - what a student might write
            pass
        while True:
            pass

    res = check_gae(student_gae, verbose=False, time_limit=0.1)
    assert res.timed_out and "TimeLimitExceeded" in res.first_failure.error


def test_time_limit_outside_the_main_thread():
    import threading

    good = make_gae()
    calls = [0]

    def student_gae(*args):
        calls[0] += 1
        if calls[0] == 3:
            while True:
                pass
        return good(*args)

    box = {}
    worker = threading.Thread(target=lambda: box.update(res=check_gae(student_gae, verbose=False,
                                                                     time_limit=0.2)))
    worker.start()
    worker.join(30)
    res = box["res"]
    assert res.timed_out and res.first_failure.index == 2 and res.n_passed == 2


def test_slow_but_finite_code_passes_under_the_limit():
    good = make_gae()
    res = check_gae(lambda *a: good(*a), verbose=False, time_limit=5.0)
    assert res.passed and not res.timed_out


@pytest.mark.parametrize("exc, words", [
    (SystemExit(3), "called sys.exit()"),
    (KeyboardInterrupt(), "interrupted"),
])
def test_exit_and_interrupt_become_feedback(exc, words):
    def student_gae(*args):
        raise exc

    res = check_gae(student_gae, verbose=False)
    assert not res.passed and words in res.first_failure.error
    assert type(exc).__name__ in res.message


def test_exit_on_some_cases_only_fails_those():
    good = make_gae()

    def student_gae(rewards, *args):
        if rewards.ndim > 1:
            import sys
            sys.exit(0)
        return good(rewards, *args)

    res = check_gae(student_gae, verbose=False)
    assert 0 < res.n_passed < res.n_cases
    assert "SystemExit" in res.first_failure.error and "batch shape" in res.first_failure.description


def test_complex_output_fails():
    good = make_gae()
    res = check_gae(lambda *a: good(*a).astype(complex), verbose=False)
    assert not res.passed and "complex" in res.first_failure.hint
    res = check_gae(lambda *a: good(*a) + 1e-3j, verbose=False)
    assert not res.passed


def test_bfloat16_tensor_output_is_graded_not_crashed():
    torch = pytest.importorskip("torch")
    good = make_gae()
    res = check_gae(lambda *a: torch.as_tensor(good(*a)).to(torch.bfloat16), verbose=False)
    assert not res.passed
    assert "bfloat16" in res.first_failure.hint
    # a wrong bfloat16 output gets the hint of its bug, not the one about precision
    res = check_discounted_cumsum(lambda x, d, done: torch.as_tensor(np.cumsum(x, axis=0)).to(torch.bfloat16),
                                  verbose=False)
    assert "np.cumsum sums the past" in res.first_failure.hint


def test_odd_return_values_are_feedback():
    good = make_gae()
    for fn in [lambda *a: "advantages", lambda *a: {"adv": 1}, lambda *a: [[1.0], [2.0, 3.0]],
               lambda *a: object(), lambda *a: float("nan") * good(*a)]:
        res = check_gae(fn, verbose=False)
        assert not res.passed and res.first_failure.hint


def test_collect_needs_only_inputs_and_grade_compares_later():
    from gaelib.checkers import engine
    from gaelib.checkers.checks import build

    cases, variants, options = build("check_gae", n_random=3)
    outcomes = engine.collect(make_gae("trunc_as_term"), [c.inputs for c in cases], time_limit=1.0)
    assert len(outcomes) == len(cases) and all(o.status == "ok" for o in outcomes)
    res = engine.grade("check_gae", "student_gae", cases, outcomes, variants, **options)
    assert "truncation treated as termination" in res.first_failure.hint


def test_time_limit_works_in_a_jupyter_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from gaelib.checkers import check_td_residuals\n"
        "def student(*args):\n    while True:\n        pass\n"
        "res = check_td_residuals(student, time_limit=0.3)\n"
        "assert res.timed_out")]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert "TimeLimitExceeded" in nb.cells[0].outputs[0]["text"]


# --------------------------------------------------------------------------- bad arguments

ALL_CHECKERS = [check_td_residuals, check_gae, check_lambda_returns, check_discounted_cumsum,
                check_token_level_gae]


@pytest.mark.parametrize("checker", ALL_CHECKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kwargs, exc, argname", [
    ({"student_fn": None}, TypeError, "student_fn"),
    ({"student_fn": np.zeros(3)}, TypeError, "student_fn"),
    ({"n_random": -1}, ValueError, "n_random"),
    ({"n_random": 2.5}, TypeError, "n_random"),
    ({"n_random": True}, TypeError, "n_random"),
    ({"seed": -3}, ValueError, "seed"),
    ({"seed": "0"}, TypeError, "seed"),
    ({"time_limit": 0}, ValueError, "time_limit"),
    ({"time_limit": -1.0}, ValueError, "time_limit"),
    ({"time_limit": float("nan")}, ValueError, "time_limit"),
    ({"time_limit": float("inf")}, ValueError, "time_limit"),
    ({"time_limit": "5"}, TypeError, "time_limit"),
    ({"verbose": "yes"}, TypeError, "verbose"),
])
def test_bad_arguments_name_the_argument(checker, kwargs, exc, argname):
    kwargs = {"student_fn": lambda *a: None, **kwargs}
    fn = kwargs.pop("student_fn")
    with pytest.raises(exc, match=argname):
        checker(fn, **kwargs)


def test_bad_interior_masks_flag():
    with pytest.raises(TypeError, match="interior_masks"):
        check_token_level_gae(lambda *a: None, interior_masks="no")


def test_grade_with_fewer_outcomes_than_cases_fails_at_the_first_missing_one():
    from gaelib.checkers import engine
    from gaelib.checkers.checks import build

    cases, variants, options = build("check_gae", n_random=2)
    outcomes = engine.collect(make_gae(), [c.inputs for c in cases[:3]], time_limit=1.0)
    res = engine.grade("check_gae", "student_gae", cases, outcomes, variants, **options)
    assert not res.passed and res.n_passed == 3 and res.first_failure.index == 3
    assert "not called" in res.first_failure.error and "were not run" in res.message
