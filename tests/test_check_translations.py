"""tools/check_translations.py: hand-made message pairs that must pass or fail each check."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import check_translations as ct  # noqa: E402


@pytest.mark.parametrize("msgid, msgstr", [
    ("With $V \\equiv 0$ every {eq}`eq-gae` holds.", "当 $V \\equiv 0$ 时，每个 {eq}`eq-gae` 都成立。"),
    ("See the {ref}`notation <chap-notation>`.", "见{ref}`符号约定 <chap-notation>`。"),
    ("Call `gae(...)` with {cite:p}`schulman2016`.", "调用 `gae(...)`，见 {cite:p}`schulman2016`。"),
    ("A [link](https://example.org).", "一个[链接](https://example.org)。"),
])
def test_intact_translations_pass(msgid, msgstr):
    assert ct.broken_parts(msgid, msgstr) == []


@pytest.mark.parametrize("msgid, msgstr, what", [
    ("With $V \\equiv 0$.", "当 $V = 0$ 时。", "inline math"),
    ("Per {eq}`eq-gae`.", "按 {eq}`eq-gea`。", "roles"),
    ("See the {ref}`notation <chap-notation>`.", "见{ref}`符号约定 <chap-notations>`。", "roles"),
    ("Call `gae(...)`.", "调用 gae(...)。", "code spans"),
    ("A [link](https://example.org).", "一个[链接](https://example.com)。", "link targets"),
])
def test_broken_translations_fail(msgid, msgstr, what):
    problems = ct.broken_parts(msgid, msgstr)
    assert len(problems) == 1 and problems[0].startswith(what)


def test_glossary_terms_parse_variants_and_forms():
    terms = dict((tuple(v), f) for v, f in ct.glossary_terms())
    assert terms[("temporal-difference residual", "TD residual", "TD error")] == ["时差分误差", "时序差分误差"]
    assert terms[("generalized advantage estimation",)] == ["广义优势估计"]
    assert terms[("λ-return", "TD(λ) target")] == ["λ-回报"]


def test_term_check():
    terms = ct.glossary_terms()
    assert ct.term_problems("The TD residuals are zero.", "时序差分误差都为零。", terms) == []
    assert ct.term_problems("The TD residuals are zero.", "TD 残差都为零。", terms) != []
    # code spans and math do not count as uses of the term
    assert ct.term_problems("`returns` has shape $[T]$.", "`returns` 的形状为 $[T]$。", terms) == []
    # the verb "returns" is not the glossary's return; acronyms may stay
    assert ct.term_problems("The function returns the advantages.", "该函数给出优势估计。", terms) == []
    assert ct.term_problems("PPO clips the ratio.", "PPO 裁剪概率比。", terms) == []


def test_search_terms_file_lists_the_glossary_chinese_terms():
    import build_zh

    words = build_zh.write_search_terms().read_text(encoding="utf-8").split()[::2]
    assert {"优势函数", "价值网络", "广义优势估计", "时序差分误差"} <= set(words)
    assert all(any("\u4e00" <= c <= "\u9fff" for c in w) for w in words)  # Chinese only, no English
