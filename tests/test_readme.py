"""The README's Python examples print what the README says they print.

Each ```python block that is followed directly by a ```text block is run in a fresh namespace, and
its standard output must equal the text block (trailing spaces ignored), so the numbers a reader
sees on the front page are computed, not typed.
"""

import contextlib
import io
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
PAIRS = re.findall(r"```python\n(.*?)```\n```text\n(.*?)```", README.read_text(), flags=re.S)


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_the_readme_has_examples_with_output():
    assert len(PAIRS) >= 2


@pytest.mark.parametrize("code, expected", PAIRS, ids=[f"example{i}" for i in range(len(PAIRS))])
def test_readme_example_prints_what_the_readme_says(code, expected):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    assert _normalise(out.getvalue()) == _normalise(expected)
