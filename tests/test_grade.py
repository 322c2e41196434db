"""Tests of the class grader (gaelib.grade): a folder of generated submissions (good, buggy and
hostile) graded in one run, the book's solution and blank notebooks, the spec files, the
static checks for borrowed code, and the JSON that crosses the sandbox wall.

The class run takes about a minute on 2 cores: 34 submissions, each in its own process, two
at a time, with short limits so that the hostile ones (infinite loops) end quickly.
"""

from __future__ import annotations

import csv
import inspect
import json
import os
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from gaelib import reference
from gaelib.grade import assignments, codec, sandbox, submissions
from gaelib.grade.cli import grade_class, main

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "chapters" / "assignments"
LIMITS = sandbox.Limits(wall_seconds=12.0, memory_mb=2048)
MODE = sandbox.isolation()[0]

GOOD = '''
import numpy as np

def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    adv = np.zeros_like(rewards)
    last = np.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        nonterminal = 1.0 - terminated[t]
        delta = rewards[t] + gamma * nonterminal * next_values[t] - values[t]
        last = delta + gamma * lam * nonterminal * (1.0 - truncated[t]) * last
        adv[t] = last
    return adv
'''

# One classic mistake each: (name, line of GOOD to replace, replacement, hint the feedback must give)
BUGS = [
    ("trunc_as_term", "nonterminal = 1.0 - terminated[t]", "nonterminal = 1.0 - (terminated[t] | truncated[t])",
     "truncation treated as termination"),
    ("values_t", "next_values[t] - values[t]", "values[t] - values[t]", "off by one: you used values[t]"),
    ("ignore_term", "nonterminal = 1.0 - terminated[t]", "nonterminal = 1.0", "termination is ignored"),
    ("trace_leaks", " * (1.0 - truncated[t]) * last", " * last", "leaks across a truncation"),
    ("gamma_only", "gamma * lam * nonterminal", "gamma * nonterminal", "uses gamma where it needs gamma*lam"),
    ("returns", "    return adv", "    return adv + values", "returned the returns"),
    ("forward", "reversed(range(len(rewards)))", "range(len(rewards))", "forwards in time"),
    ("sign", "    return adv", "    return -adv", "sign is flipped"),
]


def _notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


def make_submissions(folder: Path, others: Path) -> dict:
    """Write at least 30 mixed submissions for the ``gae`` assignment into ``folder``.

    Returns ``{student: what the grade must show}``: ``score`` (exact, or None to skip), ``flags``
    (each must be present), ``words`` (each must appear in the feedback file).
    """
    folder.mkdir(parents=True, exist_ok=True)
    expect = {}

    def add(student, code, *, nb=False, score=None, flags=(), words=(), cells=None):
        if nb or cells is not None:
            _notebook(folder / f"{student}.ipynb", cells if cells is not None else [code])
        else:
            (folder / f"{student}.py").write_text(code)
        expect[student] = {"score": score, "flags": list(flags), "words": list(words)}

    add("good_py", GOOD, score=10.0)
    add("good_nb", "", cells=["import numpy as np\nimport gaelib\nrng = gaelib.seed_everything(0)", GOOD,
                              "from gaelib.checkers import check_gae\nresult = check_gae(student_gae)",
                              "%matplotlib inline\n!echo magic lines are skipped"], score=10.0)
    add("good_vectorised", GOOD.replace("def student_gae", "def helper").replace("return adv", "return adv") +
        "\ndef student_gae(*args):\n    return helper(*args)\n", score=10.0)
    add("good_compares_with_gaelib_at_top_level", "", cells=[
        GOOD, "import gaelib\nr = np.ones(3); v = np.zeros(3)\nf = np.zeros(3, bool)\n"
              "ref = gaelib.gae(r, v, next_values=v, terminated=f, truncated=f, gamma=0.9, lam=0.8).advantages\n"
              "np.testing.assert_allclose(student_gae(r, v, v, f, f, 0.9, 0.8), ref)"], score=10.0)
    for name, old, new, hint in BUGS:
        assert old in GOOD, name
        add(f"bug_{name}", GOOD.replace(old, new), nb=name in ("values_t", "returns"), words=[hint])
    add("blank", "", cells=["import numpy as np",
                            "def student_gae(rewards, values, next_values, terminated, truncated, gamma, lam):\n"
                            "    # YOUR CODE HERE\n    raise NotImplementedError"],
        score=0.0, flags=["not-implemented"], words=["not implemented yet"])
    add("infinite_loop_in_function", "def student_gae(*args):\n    while True:\n        pass\n",
        score=0.0, flags=["timeout"], words=["TimeLimitExceeded"])
    add("infinite_loop_at_top_level", "", cells=["while True:\n    pass", GOOD], score=10.0,
        flags=["timeout"], words=["cell 0 raised TimeLimitExceeded"])
    add("hangs_and_swallows_every_interrupt",
        "import time\nwhile True:\n    try:\n        time.sleep(100)\n    except BaseException:\n        pass\n",
        score=0.0, flags=["timeout"], words=["was stopped"])
    add("sys_exit_at_top_level", "import sys\nsys.exit(1)\n" + GOOD, score=0.0, flags=["missing-function"],
        words=["SystemExit"])
    add("sys_exit_in_function", "import sys\ndef student_gae(*args):\n    sys.exit(0)\n", score=0.0,
        words=["called sys.exit()"])
    add("os_exit", "import os\nos._exit(3)\n", score=0.0, flags=["crashed"], words=["without a report"])
    add("syntax_error", GOOD.replace("def student_gae(", "def student_gae(("), score=0.0,
        flags=["syntax-error", "missing-function"], words=["SyntaxError"])
    add("missing_function", GOOD.replace("student_gae", "my_gae"), score=0.0, flags=["missing-function"],
        words=["student_gae is not defined"])
    add("wrong_signature", GOOD.replace("terminated, truncated, gamma, lam", "dones, gamma, lam"),
        score=0.0, flags=["wrong-signature"], words=["cannot be called"])
    add("missing_import", "", cells=["import a_package_that_is_not_installed", GOOD], score=10.0,
        flags=["cell-error"], words=["ModuleNotFoundError"])
    add("prints_100_mb", "print('x' * 100_000_000)\n" + GOOD.replace(
        "    return adv", "    print('y' * 1_000_000)\n    return adv"), score=10.0, flags=["output-capped"])
    add("notebook_fails_to_execute", "", cells=["x = 1 / 0", "undefined_name + 1"], score=0.0,
        flags=["cell-error", "missing-function"], words=["ZeroDivisionError", "NameError"])
    (folder / "corrupt_notebook.ipynb").write_text("{ this is not json")
    expect["corrupt_notebook"] = {"score": 0.0, "flags": ["unreadable"], "words": ["could not be read"]}
    add("calls_gaelib", "import gaelib\ndef student_gae(r, v, nv, term, trunc, g, lam):\n"
        "    return gaelib.gae(r, v, next_values=nv, terminated=term, truncated=trunc, gamma=g, lam=lam).advantages\n",
        score=0.0, flags=["calls-gaelib"], words=["NOT CREDITED"])
    add("calls_gaelib_hidden", "def student_gae(r, v, nv, term, trunc, g, lam):\n"
        "    m = getattr(__builtins__, 'get', None) and __builtins__['__import__'] or __import__\n"
        "    ref = vars(m('gae' + 'lib'))['reference']\n"
        "    return getattr(ref, 'gae_' + 'loop')(r, v, next_values=nv, terminated=term, truncated=trunc,"
        " gamma=g, lam=lam)[0]\nimport gaelib.reference\n",
        score=0.0, flags=["calls-gaelib"])
    loop = inspect.getsource(reference._next_values) + "\n" + inspect.getsource(reference.gae_loop).replace(
        "def gae_loop", "def copied_loop")
    add("copies_reference_loop", "import numpy as np\n" + textwrap.dedent(loop) +
        "\ndef student_gae(r, v, nv, term, trunc, g, lam):\n"
        "    return copied_loop(r, v, next_values=nv, terminated=term, truncated=trunc, gamma=g, lam=lam)[0]\n",
        score=10.0, flags=["copies-gaelib"], words=["REVIEW"])
    add("mutates_inputs", GOOD.replace("    return adv", "    rewards[...] = 0.0\n    return adv"), score=0.0,
        words=["modified its input(s) ['rewards']"])
    add("complex_output", GOOD.replace("    return adv", "    return adv + 0j"), score=0.0, words=["complex"])
    add("returns_none", GOOD.replace("    return adv", "    adv"), score=0.0, words=["returned None"])
    add("memory_hog", "", cells=["import numpy as np\nbig = np.ones(2**31)", GOOD], score=10.0,
        flags=["cell-error"], words=["MemoryError"])
    secret = others / "secret_other_submission.py"
    secret.write_text("ANSWER = 42\n")
    add("reads_other_submissions",
        GOOD.replace("    return adv", f"    try:\n        open({str(secret)!r}).read()\n"
                                     f"        leaked = True\n    except OSError:\n        leaked = False\n"
                                     f"    if leaked:\n        raise RuntimeError('LEAKED another file')\n"
                                     f"    return adv"),
        score=10.0 if MODE == "bwrap" else 0.0, words=[] if MODE == "bwrap" else ["LEAKED"])
    add("writes_outside_scratch", GOOD + f"\ntry:\n    open({str(others / 'pwned.txt')!r}, 'w').write('x')\n"
        "except OSError:\n    pass\n", score=10.0)
    assert len(expect) >= 30
    return expect


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grade")
    expect = make_submissions(base / "submissions", base)
    out = base / "out"
    results = grade_class(assignments.BOOK["gae"], base / "submissions", out, jobs=2, limits=LIMITS,
                          call_time_limit=1.0, progress=False)
    return expect, {r.student: r for r in results}, out


def test_every_submission_is_graded_once(graded):
    expect, results, out = graded
    assert sorted(results) == sorted(expect)
    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    assert sorted(r["student"] for r in rows) == sorted(expect)
    assert all((out / "feedback" / f"{s}.txt").is_file() for s in expect)




def test_scores_flags_and_feedback(graded):
    expect, results, out = graded
    problems = []
    for student, want in expect.items():
        r = results[student]
        text = (out / "feedback" / f"{student}.txt").read_text()
        if want["score"] is not None and abs(r.score - want["score"]) > 1e-9:
            problems.append(f"{student}: score {r.score} != {want['score']} ({r.first_failure})")
        for flag in want["flags"]:
            if flag not in r.flags:
                problems.append(f"{student}: flag {flag} missing from {r.flags}")
        for word in want["words"]:
            if word not in text:
                problems.append(f"{student}: {word!r} not in feedback:\n{text[:600]}")
    assert not problems, "\n".join(problems)


def test_buggy_submissions_score_between_zero_and_full_with_their_hint(graded):
    expect, results, out = graded
    for name, *_ in BUGS:
        r = results[f"bug_{name}"]
        assert 0 <= r.score < 10 and r.first_failure, name
        assert "calls-gaelib" not in r.flags and "copies-gaelib" not in r.flags


def test_good_submissions_are_not_flagged(graded):
    expect, results, out = graded
    for student in ["good_py", "good_nb", "good_vectorised", "good_compares_with_gaelib_at_top_level"]:
        assert results[student].flags == [], (student, results[student].flags)


def test_gradescope_results(graded):
    expect, results, out = graded
    for student, r in results.items():
        data = json.loads((out / "gradescope" / student / "results.json").read_text())
        assert data["score"] == pytest.approx(r.score, abs=1e-3)
        assert sum(t["max_score"] for t in data["tests"]) == pytest.approx(10.0)
        assert sum(t["score"] for t in data["tests"]) == pytest.approx(r.score, abs=1e-3)
        assert {"name", "score", "max_score", "output", "status"} <= set(data["tests"][0])
    assert not (out / "results.json").exists()  # several submissions: one results.json each


def test_summary_names_the_most_common_bug(graded):
    from gaelib.grade import report

    expect, results, out = graded
    results = list(results.values())
    text = report.summary(results, assignments.BOOK["gae"], "words")
    assert "graded 35 submissions" in text and "isolation: words" in text
    assert "most common first failure, in 1 of the" in text
    # two more students with the truncation bug make it the most common one
    twins = [r for r in results if r.student == "bug_trunc_as_term"] * 3
    assert "truncation treated as termination" in report.summary(results + twins, assignments.BOOK["gae"], "")


def test_printing_is_capped_and_limits_hold(graded):
    expect, results, out = graded
    assert results["prints_100_mb"].score == 10.0
    assert len((out / "feedback" / "prints_100_mb.txt").read_text()) < 20_000
    for r in results.values():
        assert r.wall_seconds < LIMITS.wall_seconds + 10


@pytest.mark.skipif(MODE != "bwrap", reason="only a bubblewrap sandbox hides the grader's folders")
def test_sandbox_cannot_write_outside_its_scratch(graded):
    expect, results, out = graded
    assert not (out.parent / "pwned.txt").exists()


# --------------------------------------------------------------------------- the book's notebooks


@pytest.mark.parametrize("name", sorted(assignments.BOOK))
def test_book_solutions_full_marks_and_blanks_zero(name, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "solution.ipynb").write_bytes((ASSIGNMENTS / f"assignment_{name}_solution.ipynb").read_bytes())
    (subs / "blank.ipynb").write_bytes((ASSIGNMENTS / f"assignment_{name}.ipynb").read_bytes())
    results = {r.student: r for r in grade_class(assignments.BOOK[name], subs, tmp_path / "out", jobs=2,
                                                     limits=LIMITS, progress=False)}
    assert results["solution"].score == 10.0 and results["solution"].flags == [], results["solution"].flags
    assert results["blank"].score == 0.0 and "not-implemented" in results["blank"].flags
    assert "not implemented yet" in (tmp_path / "out" / "feedback" / "blank.txt").read_text()


def test_cli_single_submission_writes_top_level_results_json(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "s1.py").write_text(GOOD.replace("student_gae", "my_gae"))
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "hw"\n[[parts]]\nfunction = "my_gae"\nchecker = "check_gae"\n'
                    'points = { edge = 2, random = 3 }\nn_random = 6\nseed = 7\n')
    assert main([str(spec), str(subs), "--out", str(tmp_path / "out"), "--no-progress", "--time-limit", "20"]) == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["score"] == 5.0
    printed = capsys.readouterr().out
    assert "graded 1 submissions for assignment hw" in printed and "isolation:" in printed


# --------------------------------------------------------------------------- specs, static checks, codec


def test_spec_files_toml_json_py(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"parts": [{"function": "f", "checker": "check_td_residuals"}]}))
    (tmp_path / "b.py").write_text("ASSIGNMENT = {'name': 'b', 'parts': [{'function': 'g', "
                                   "'checker': 'check_token_level_gae', 'interior_masks': False}]}")
    a = assignments.load_assignment(str(tmp_path / "a.json"))
    b = assignments.load_assignment(str(tmp_path / "b.py"))
    assert a.name == "a" and a.parts[0].max_points == 10.0
    assert b.parts[0].options == {"interior_masks": False}
    assert assignments.load_assignment("assignment_td").max_points == 10.0


@pytest.mark.parametrize("spec, argname", [
    ({"parts": [{"function": "f", "checker": "check_nothing"}]}, "checker"),
    ({"parts": [{"function": "not an identifier", "checker": "check_gae"}]}, "function"),
    ({"parts": [{"function": "f", "checker": "check_gae", "points": {"edge": -1}}]}, "points"),
    ({"parts": [{"function": "f", "checker": "check_gae", "points": {"hard": 1}}]}, "points"),
    ({"parts": [{"function": "f", "checker": "check_gae", "points": {"edge": float("nan")}}]}, "points"),
    ({"parts": [{"function": "f", "checker": "check_gae", "n_random": -2}]}, "n_random"),
    ({"parts": [{"function": "f", "checker": "check_gae", "seed": "x"}]}, "seed"),
    ({"parts": [{"function": "f", "checker": "check_gae", "interior_masks": True}]}, "options"),
    ({"parts": [{"function": "f", "checker": "check_gae", "colour": 1}]}, "parts"),
    ({"parts": [{"checker": "check_gae"}]}, "parts"),
    ({"parts": []}, "parts"),
    ({"parts": "f"}, "parts"),
    ({"parts": [{"function": "f", "checker": "check_gae"}] * 2}, "parts"),
    ({"name": "", "parts": [{"function": "f", "checker": "check_gae"}]}, "name"),
    ({"title": "x", "parts": []}, "spec"),
])
def test_bad_specs_name_the_field(spec, argname):
    with pytest.raises(ValueError, match=argname):
        assignments.from_dict(spec)


def test_unknown_assignment_and_bad_folder(tmp_path):
    with pytest.raises(ValueError, match="assignment"):
        assignments.load_assignment("no_such_assignment")
    with pytest.raises(ValueError, match="submissions_dir"):
        submissions.find_submissions(tmp_path / "missing")
    (tmp_path / "x.py").write_text("")
    (tmp_path / "x.ipynb").write_text("")
    with pytest.raises(ValueError, match="submissions_dir"):
        submissions.find_submissions(tmp_path)


@pytest.mark.parametrize("code, found", [
    ("import gaelib\ndef student_gae(*a):\n    return gaelib.gae(*a)", ["gaelib.gae"]),
    ("from gaelib.reference import gae_loop as g\nstudent_gae = lambda *a: g(*a)[0]", ["gaelib.reference.gae_loop"]),
    ("import gaelib as G\ndef h(*a):\n    return G.advantages.gae(*a)\ndef student_gae(*a):\n    return h(*a)",
     ["gaelib.advantages.gae"]),
    ("def student_gae(*a):\n    return __import__('gaelib').gae(*a)", ["gaelib"]),
    ("import gaelib\nref = gaelib.gae\ndef student_gae(*a):\n    return 0", []),
    ("import gaelib\ndef test():\n    return gaelib.gae\ndef student_gae(*a):\n    return 0", []),
    ("from gaelib.checkers import check_gae\ndef student_gae(*a):\n    check_gae\n    return 0", []),
])
def test_static_gaelib_references(code, found):
    assert submissions.gaelib_references([code], "student_gae") == found


def test_copied_lines_flags_the_reference_loop_not_the_solutions():
    loop = inspect.getsource(reference.gae_loop)
    assert "gae_loop" in submissions.copied_lines([loop], "gae_loop")
    assert submissions.copied_lines([loop], "other_function") == {}
    for nb in sorted(ASSIGNMENTS.glob("*.ipynb")):
        for part in assignments.BOOK[nb.stem.removeprefix("assignment_").removesuffix("_solution")].parts:
            assert submissions.copied_lines(submissions.read_cells(nb), part.function) == {}, nb.name
    assert submissions.copied_lines([GOOD], "student_gae") == {}


def test_codec_round_trip_and_refuses_unknown_data():
    values = [np.arange(6.0).reshape(2, 3), np.array([True, False]), np.array([1 + 2j]), (np.zeros(2), None),
              {"a": 1.5}, "text", 3, None]
    for v in values:
        back = codec.decode(json.loads(json.dumps(codec.encode(v))))
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(back, v)
            assert back.dtype.kind == v.dtype.kind
    assert codec.decode(codec.encode(object())).startswith("<object")
    with pytest.raises(ValueError):
        codec.decode({"__pickle__": "..."})


def test_python_dash_m_entry_point():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "gaelib.grade", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0 and "ASSIGNMENT" not in out.stderr
    assert "submissions_dir" in out.stdout and "--out" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "gaelib.grade", "no_such_assignment", ".", "--out", "x"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert bad.returncode == 2 and "assignment must be one of" in bad.stderr


def test_the_books_install_cell_is_not_run():
    nb = ASSIGNMENTS / "assignment_gae_solution.ipynb"
    assert "gaelib-course/gae-course" in nb.read_text()  # the notebook has it (it clones the course)
    cells = submissions.read_cells(nb)
    assert cells and not any("gaelib-course/gae-course" in c for c in cells)
