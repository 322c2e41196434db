"""Check the Chinese edition's message catalogues (locales/zh_CN/LC_MESSAGES/**/*.po).

    python tools/check_translations.py [--pot _build/gettext] [--stats]

Checks, and exits 1 on any failure:

1. **Up to date.** With ``--pot DIR`` (the English templates that ``tools/build_zh.py --gettext``
   writes), every English message of every template is in its catalogue. A chapter whose English
   changed after the last ``make locales`` fails here, with the messages that are missing.
2. **Complete.** Every catalogue named in ``locales/zh_CN/complete.txt`` (one docname a line) has no
   untranslated and no fuzzy entry. A catalogue not named there is shown in English where it is not
   translated, and the statistics say so.
3. **Nothing broken** in any translated (non-fuzzy) entry: the inline math ``$...$``, the code spans
   ```...```, the roles' targets (``{eq}`label```, ``{ref}`text <label>``` keeps ``label``,
   ``{cite:p}`key```...), the link targets ``](url)`` and the bold markers are the same multisets in
   the English and the Chinese. (Display math is not a message at all:
   tools/sphinx_ext/i18n_zh.py keeps equations, code and docstrings out.)
4. **Terms.** Every glossary term (glossary.md, ``**English**<br>中文`` rows) appears in a Chinese
   form of the glossary wherever the English message uses the English term (outside math and code).
   English variants are the comma-separated names with a parenthesised abbreviation either dropped or
   used in place of the word before it; Chinese forms are the ``,``/``;``-separated names, † removed,
   plus the ``(also ...)`` alternatives; spaces do not count (``KL 惩罚`` = ``KL惩罚``). An acronym
   entry (PPO, RLHF, TRPO, REINFORCE) may also stay as the acronym, as Chinese technical texts write
   it; a parenthesised abbreviation ("(GAE)", "(RL)") is not checked on its own. A few English words are used in a sense that is not the
   glossary's (listed in ``TERM_SENSES`` below with the reason); they are skipped there.

``--stats`` prints the per-catalogue table (messages, translated, fuzzy, untranslated).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"
COMPLETE_LIST = ROOT / "locales" / "zh_CN" / "complete.txt"
GLOSSARY = ROOT / "glossary.md"

# English words whose glossary sense is not the only one in the prose, with the sense that is skipped.
# Each entry: English variant -> regex of the English context (in the stripped message) that is NOT the
# glossary sense.
TERM_SENSES = {
    "return": r"\breturns? (?:the|a|an|one|its|their|it|them|zero|0|\w+ arrays?|numpy|torch|nan|none)\b"
              r"|\b(?:function|it|which|that|and|or|call) returns?\b|\breturns? (?:[\w-]+ ){0,2}(?:tensors?|arrays?)\b"
              r"|\b(?:must|should|to|will|would|can|does|do|may) return\b"
              r"|\breturns? +(?:CODE|MATH)\b|^\W*return\b",  # the verb ("returns `x`", "Return one array")
    "state": r"\b(?:states|stated) (?:the|that|what|whether|how|it|a|an)\b|\bstate (?:that|what|whether|how)\b"
             r"|\b(?:prose|text|FAQ|seed|article|paper|chapter) states\b",  # the verb "to state"
}

ROLE = re.compile(r"\{([a-zA-Z:+-]+)\}`([^`]*)`")
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)((?:\\.|[^$\\])+?)\$")
CODE = re.compile(r"(?<![`}])(`+)(?!`)(.+?)(?<!`)\1(?!`)")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def role_keys(text: str) -> Counter:
    """Multiset of (role, target): the target of ``{ref}`text <label>``` is ``label``."""
    keys = Counter()
    for role, body in ROLE.findall(text):
        m = re.search(r"<([^<>]+)>\s*$", body)
        target = m.group(1) if m else body
        if role in ("doc", "ref", "numref", "eq", "download", "term") or role.startswith("cite"):
            keys[(role, target.strip())] += 1
        else:
            keys[(role, body)] += 1
    return keys


def strip_markup(text: str) -> str:
    """The message with roles, inline math and code spans replaced: what a reader reads as words.

    Math and code become the placeholders MATH and CODE, so that "returns `x`" still reads as a verb.
    """
    text = ROLE.sub(lambda m: " " + (re.sub(r"\s*<[^<>]+>\s*$", "", m.group(2))
                                     if m.group(1) in ("ref", "doc", "numref") else "") + " ", text)
    text = INLINE_MATH.sub(" MATH ", text)
    text = CODE.sub(" CODE ", text)
    text = LINK_TARGET.sub("]", text)
    return text


def parts(text: str) -> dict[str, Counter]:
    no_roles = ROLE.sub(" ", text)
    return {
        "inline math $...$": Counter(INLINE_MATH.findall(no_roles)),
        "code spans": Counter(c for _, c in CODE.findall(INLINE_MATH.sub(" ", no_roles))),
        "roles and their targets": role_keys(text),
        "link targets": Counter(LINK_TARGET.findall(text)),
    }


def broken_parts(msgid: str, msgstr: str) -> list[str]:
    """Names of the pieces that differ between the English and the Chinese, with what differs."""
    out = []
    a, b = parts(msgid), parts(msgstr)
    for name in a:
        if a[name] != b[name]:
            lost = a[name] - b[name]
            extra = b[name] - a[name]
            out.append(f"{name}: lost {sorted(lost)} added {sorted(extra)}")
    return out


def glossary_terms(path: Path = GLOSSARY) -> list[tuple[list[str], list[str]]]:
    """[(English variants, Chinese forms)] from the glossary's ``**English**<br>中文`` cells."""
    terms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*\*\*(.+?)\*\*<br>([^|]+)\|", line)
        if not m:
            continue
        english, chinese = m.group(1), m.group(2).strip()
        forms = []
        also = re.findall(r"\(also ([^)]*)\)", chinese)
        chinese = re.sub(r"\(also [^)]*\)", "", chinese)
        for form in re.split(r"[,;，；]", chinese) + also:
            form = form.replace("†", "").strip()
            if form:
                forms.append(form)
        variants = []
        for name in english.split(","):
            name = name.strip()
            pm = re.match(r"^(.*?)(\s*)\(([^)]*)\)\s*(.*)$", name)
            if pm and not pm.group(2):  # "TD(λ) target": the parenthesis is part of the name
                variants.append(name)
            elif pm:
                before, _, inside, after = pm.groups()
                variants.append(f"{before} {after}".strip())
                if inside.isupper() and after:  # "temporal-difference (TD) residual" -> "TD residual"
                    variants.append(f"{' '.join(before.split()[:-1] + [inside])} {after}".strip())
            else:
                variants.append(name)
        terms.append(([v for v in variants if v], forms))
    return terms


def term_problems(msgid: str, msgstr: str, terms) -> list[str]:
    """Glossary terms of the English message whose Chinese form the translation lacks.

    Longer terms are matched first and their words removed, so "reference policy" (参考模型) does not
    also count as a use of "policy" (策略), nor "reward model" as one of "reward".
    """
    words = strip_markup(msgid)
    flat = sorted(((v, forms) for variants, forms in terms for v in variants), key=lambda t: -len(t[0]))
    missing = {}
    for variant, forms in flat:
        pattern = r"(?<![\w-])" + re.escape(variant).replace(r"\ ", r"[\s-]+") + r"(?:s|es)?(?![\w-])"
        hits = list(re.finditer(pattern, words, flags=re.IGNORECASE))
        if variant.lower() in TERM_SENSES:
            skip = re.compile(TERM_SENSES[variant.lower()], re.IGNORECASE)
            spans = [m.span() for m in skip.finditer(words)]
            hits = [h for h in hits if not any(s <= h.start() < e for s, e in spans)]
        for h in reversed(hits):
            words = words[:h.start()] + " " * (h.end() - h.start()) + words[h.end():]
        if not hits or (variant.isupper() and variant in msgstr):
            continue  # an acronym (PPO, RLHF, REINFORCE) may stay as it is, as Chinese texts write it
        if not any(form.replace(" ", "") in msgstr.replace(" ", "") for form in forms):
            missing.setdefault(tuple(forms), variant)
    return [f"'{variant}' without {' / '.join(forms)}" for forms, variant in missing.items()]


def docname(po: Path) -> str:
    return po.relative_to(LOCALE_DIR).with_suffix("").as_posix()


def load(po: Path):
    with po.open("rb") as f:
        return read_po(f, abort_invalid=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pot", type=Path, help="directory of the English .pot templates")
    parser.add_argument("--stats", action="store_true", help="print the per-catalogue statistics")
    args = parser.parse_args(argv)

    complete = [line.split("#")[0].strip() for line in COMPLETE_LIST.read_text().splitlines()]
    complete = [c for c in complete if c]
    terms = glossary_terms()
    problems: list[str] = []
    catalogues = {docname(p): p for p in sorted(LOCALE_DIR.rglob("*.po"))}
    for name in complete:
        if name not in catalogues:
            problems.append(f"complete.txt names {name}, which has no catalogue")

    if args.pot:
        for pot in sorted(args.pot.rglob("*.pot")):
            name = pot.relative_to(args.pot).with_suffix("").as_posix()
            english = {m.id for m in load(pot) if m.id}
            have = {m.id for m in load(catalogues[name]) if m.id} if name in catalogues else set()
            missing = english - have
            if missing:
                problems.append(f"{name}: {len(missing)} English messages not in the catalogue "
                                f"(run `make locales`), e.g. {sorted(missing)[0][:70]!r}")

    rows = []
    for name, po in catalogues.items():
        cat = load(po)
        n = translated = fuzzy = 0
        for m in cat:
            if not m.id:
                continue
            n += 1
            if m.fuzzy:
                fuzzy += 1
                continue
            if not m.string:
                continue
            translated += 1
            where = f"{name}: {m.id[:60]!r}"
            for p in broken_parts(m.id, m.string):
                problems.append(f"{where}: {p}")
            if CJK.search(m.string) or name in complete:
                for p in term_problems(m.id, m.string, terms):
                    problems.append(f"{where}: term {p}")
        rows.append((name, n, translated, fuzzy, n - translated - fuzzy, name in complete))
        if name in complete and (fuzzy or translated < n):
            problems.append(f"{name}: declared complete, but {n - translated - fuzzy} untranslated "
                            f"and {fuzzy} fuzzy of {n}")

    if args.stats:
        print(f"{'catalogue':45s} {'messages':>8s} {'translated':>10s} {'fuzzy':>5s} "
              f"{'untransl.':>9s}  complete")
        for name, n, t, f, u, c in rows:
            print(f"{name:45s} {n:8d} {t:10d} {f:5d} {u:9d}  {'yes' if c else 'no'}")
        tot = [sum(r[i] for r in rows) for i in range(1, 5)]
        print(f"{'total':45s} {tot[0]:8d} {tot[1]:10d} {tot[2]:5d} {tot[3]:9d}  "
              f"{sum(r[5] for r in rows)}/{len(rows)}")
    for p in problems:
        print("FAIL", p)
    print(f"check_translations: {len(catalogues)} catalogues, {len(complete)} declared complete, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
