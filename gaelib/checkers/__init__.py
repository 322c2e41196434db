r"""Self-grading checks for assignments: run a student's estimator against gaelib.

Each checker takes the student's function, runs it on many cases (hand-picked edge
cases first, then random ones from a fixed seed), compares every output with
gaelib's reference, and prints feedback about the **first failing case**: its
inputs, the expected and the obtained output, and a hint. The hint comes from
comparing the student's outputs with known-wrong variants of the estimator (the
bugs learners and popular libraries actually make: truncation treated as
termination, ``values[t]`` where :math:`V(s_{t+1})` is needed, returns instead of
advantages, ...). A function that raises ``NotImplementedError`` gets a one-line
"not implemented yet" message, not a traceback.

Each call runs under a time limit (``time_limit=5.0`` seconds by default): an infinite loop
becomes feedback, and so do ``sys.exit()`` and ``KeyboardInterrupt`` raised by the student's
code. A case fails if the function modified its inputs in place or returned complex numbers.

Every checker returns a :class:`CheckResult` (``passed``, ``n_cases``,
``first_failure``, ...), so notebooks and tests can assert on it::

    from gaelib.checkers import check_gae
    result = check_gae(my_gae)        # prints the feedback
    assert result.passed

What the student's function receives, for every checker: numpy ``float64`` arrays,
**time-major** ``[T, *batch]`` (axis 0 is time, any batch axes after it, possibly
none), episode flags as ``bool`` arrays of the same shape, and ``gamma`` / ``lam``
as python floats, passed positionally. It must return one numpy array (a torch
tensor or a list is accepted) of the same shape. The token-level checker is the
exception: its arrays are batch-major ``[batch, tokens]``, as in the LLM engines.

The package, by concept:

- ``gaelib.checkers.engine``: call the student's function under a time limit, compare
  with the answers, build the :class:`CheckResult`;
- ``gaelib.checkers.feedback``: the words of the feedback;
- ``gaelib.checkers.cases``: the cases and their answers (the oracle);
- ``gaelib.checkers.variants``: the known bugs that the hints name;
- ``gaelib.checkers.checks``: the public checkers, one per assignment function.
"""

from gaelib.checkers.checks import (
    CHECKERS,
    check_discounted_cumsum,
    check_gae,
    check_lambda_returns,
    check_td_residuals,
    check_token_level_gae,
)
from gaelib.checkers.engine import CheckResult, Failure, TimeLimitExceeded

__all__ = [
    "CheckResult",
    "Failure",
    "TimeLimitExceeded",
    "CHECKERS",
    "check_td_residuals",
    "check_gae",
    "check_lambda_returns",
    "check_discounted_cumsum",
    "check_token_level_gae",
]
