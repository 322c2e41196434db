"""Number equations, exercises, figures and tables from 1 on every page, not across the whole book.

Sphinx numbers every enumerable thing (``numfig``; equations too, with ``math_numfig``) with one counter
per type for the whole book when the table of contents is not numbered, so the worked example opened at
equation 21 and assignment 2 showed "Exercise 45". This extension runs after Sphinx has assigned those
numbers (``env-get-updated``) and renumbers each page's items 1, 2, 3, ... in their page order (Sphinx's
own numbers are increasing in page order, so sorting by them keeps it). References (``{eq}``,
``{numref}``, "Solution to Exercise N") read the same table and follow. A reference to an item on another
page shows that page's number, linked to it.
"""

from __future__ import annotations


def renumber(app, env):
    for docname, by_type in env.toc_fignumbers.items():
        for figtype, numbers in by_type.items():
            ordered = sorted(numbers, key=lambda k: numbers[k])
            by_type[figtype] = {key: (i,) for i, key in enumerate(ordered, start=1)}
    return []


def setup(app):
    app.connect("env-get-updated", renumber, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
