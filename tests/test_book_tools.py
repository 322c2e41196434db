"""Tests of the reader-facing tools: the torch source probe, the chapters' install cell, the render check's
figure-text arithmetic and the download checks (tools/torch_source.py, install_cell.py, check_render.py,
downloads.py). Chromium is not needed here; `make render` runs the tools on the built book."""

from __future__ import annotations

import base64
import functools
import http.server
import importlib.util
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


torch_source = _tool("torch_source")
install_cell = _tool("install_cell")
check_render = _tool("check_render")
downloads = _tool("downloads")


# --- tools/torch_source.py ------------------------------------------------------------------------------

@pytest.fixture
def stand_in_index(tmp_path):
    """A PEP 503 index on loopback whose torch/ page lists one wheel, like PyTorch's CPU index."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "index.html").write_text('<a href="../files/torch-2.13.0+cpu-cp311-none.whl">torch</a>')
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "torch").mkdir()
    (tmp_path / "empty" / "torch" / "index.html").write_text("<html></html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_torch_from_cpu_index_when_it_answers(stand_in_index):
    args, why = torch_source.pip_args(stand_in_index, timeout=5, platform="linux")
    assert args == f"--index-url {stand_in_index}"
    assert "CPU index" in why


def test_torch_from_package_index_when_cpu_index_lists_no_torch(stand_in_index):
    args, why = torch_source.pip_args(stand_in_index + "/empty", timeout=5, platform="linux")
    assert args == "" and "no torch wheels" in why


def test_torch_fallback_is_fast_when_nothing_answers():
    start = time.monotonic()
    args, why = torch_source.pip_args("http://127.0.0.1:9", timeout=2, platform="linux")  # port 9: refused
    assert args == "" and "did not answer" in why
    assert time.monotonic() - start < 5   # one try, no retries (generous bound: the probe's own timeout is 2 s)


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_no_probe_off_linux(platform):
    args, why = torch_source.pip_args("http://127.0.0.1:9", timeout=2, platform=platform)
    assert args == "" and "CPU build" in why


# --- tools/install_cell.py ------------------------------------------------------------------------------

def test_install_cell_paths_follow_the_notebook_depth():
    top = install_cell.cell_source(ROOT / "chapters" / "mdp.ipynb")
    deep = install_cell.cell_source(ROOT / "chapters" / "assignments" / "assignment_td.ipynb")
    assert 'os.path.exists("../gaelib/__init__.py")' in top and 'f"..[{extras}]"' in top
    assert 'os.chdir("gae-course/chapters")' in top
    assert 'os.path.exists("../../gaelib/__init__.py")' in deep and 'f"../..[{extras}]"' in deep
    assert 'os.chdir("gae-course/chapters/assignments")' in deep
    assert '"course,tf"' in install_cell.cell_source(ROOT / "chapters" / "tf_implementation.ipynb")
    compile(top, "cell", "exec")  # plain Python: runs in any kernel


def test_install_cell_is_a_no_op_in_a_checkout(tmp_path, monkeypatch, capsys):
    """Run in the chapters folder with gaelib importable: nothing printed, cwd unchanged, nothing run."""
    calls = []
    import subprocess
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.chdir(ROOT / "chapters")
    exec(install_cell.cell_source(ROOT / "chapters" / "mdp.ipynb"), {})
    assert calls == [] and Path.cwd() == ROOT / "chapters"
    assert capsys.readouterr() == ("", "")


def test_install_cell_write_inserts_first_and_renumbers(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# T"),
                nbformat.v4.new_code_cell("x = 1", execution_count=1),
                nbformat.v4.new_code_cell("x", execution_count=2,
                                          outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"},
                                                                          execution_count=2)])]
    path = ROOT / "chapters" / "_test_install_cell.ipynb"
    try:
        nbformat.write(nb, path)
        assert install_cell.check(path) is not None       # no install cell yet
        assert install_cell.write(path) == "inserted"
        assert install_cell.write(path) == "unchanged"    # idempotent
        assert install_cell.check(path) is None
        out = nbformat.read(path, as_version=4)
        assert [c.cell_type for c in out.cells] == ["markdown", "code", "code", "code"]
        assert [c.execution_count for c in out.cells[1:]] == [1, 2, 3]
        assert out.cells[3].outputs[0]["execution_count"] == 3
        assert out.cells[1].metadata["tags"] == ["remove-cell"] and out.cells[1].outputs == []
        out.cells[1].source += "\n# edited"
        nbformat.write(out, path)
        assert "stale" in install_cell.check(path)
    finally:
        path.unlink(missing_ok=True)


def test_every_chapter_has_the_install_cell():
    paths = sorted((ROOT / "chapters").rglob("*.ipynb"))
    assert paths and [p for p in paths if install_cell.check(p)] == []


# --- tools/check_render.py: the size of a figure's text on screen ---------------------------------------

def _png(width, height, dpi=None):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    phys = chunk(b"pHYs", struct.pack(">IIB", round(dpi / 0.0254), round(dpi / 0.0254), 1)) if dpi else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + phys + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_dpi():
    assert check_render.png_dpi(_png(4, 2, dpi=100)) == pytest.approx(100, abs=0.1)
    assert check_render.png_dpi(_png(4, 2, dpi=200)) == pytest.approx(200, abs=0.1)
    assert check_render.png_dpi(_png(4, 2)) == 100   # no pHYs: matplotlib's default


def test_font_sizes_from_cells_and_called_functions(tmp_path):
    (tmp_path / "gaelib").mkdir()
    (tmp_path / "gaelib" / "plots.py").write_text("def heat(ax):\n    ax.text(0, 0, 's', fontsize=6)\n")
    (tmp_path / "chapters").mkdir()
    png = base64.b64encode(_png(4, 2, dpi=100)).decode()
    png2 = base64.b64encode(_png(6, 2, dpi=100)).decode()
    png3 = base64.b64encode(_png(8, 2, dpi=100)).decode()
    fig = lambda src, data: nbformat.v4.new_code_cell(src, outputs=[nbformat.v4.new_output(  # noqa: E731
        "display_data", {"image/png": data})])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def legend(ax):\n    ax.legend(fontsize='small')"),
                fig("ax.plot([1]); ax.set_title('t', fontsize=12)", png),   # default 10 pt wins
                fig("legend(ax)", png2),                                    # 'small' = 8.33 pt, via a notebook function
                fig("plots.heat(ax)", png3)]                                # 6 pt, via gaelib
    nbformat.write(nb, tmp_path / "chapters" / "c.ipynb")
    sizes = check_render.figure_text_pt(tmp_path)
    by_src = {origin: pt for pt, origin in sizes.values()}
    assert by_src == {"chapters/c.ipynb cell 1": 10.0, "chapters/c.ipynb cell 2": 8.33,
                      "chapters/c.ipynb cell 3": 6.0}


# --- tools/downloads.py -----------------------------------------------------------------------------------

def test_zip_holds_exactly_the_toc_notebooks(tmp_path):
    target = downloads.build_zip(tmp_path)
    assert downloads.check_zip(target) == []
    notebooks = downloads.chapter_notebooks()
    assert len(notebooks) >= 18 and all(p.suffix == ".ipynb" for p in notebooks)
    assert not any(p.stem.endswith("_solution") for p in notebooks)   # solutions are not in the toc


def test_page_title_skips_the_permalink():
    html = '<h1>A title with <span class="math">\\(x\\)</span><a class="headerlink" href="#t">#</a></h1><h1>Other</h1>'
    p = downloads._Title()
    p.feed(html)
    assert downloads.norm("".join(p.parts)) == "A title with \\(x\\)"


def test_raw_tex_pattern():
    assert downloads.RAW_TEX.findall(r"a \frac{1}{2} and \( x \) and $$y$$") == ["\\frac", "\\(", "\\)", "$$", "$$"]
    assert downloads.RAW_TEX.findall("γ λ δ plain text, a\\newline") == []
