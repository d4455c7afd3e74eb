"""The book's structure: notebook pairs, the hidden set-up cell, the table of contents, the template."""

import re
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NOTEBOOKS = notebooks.find_notebooks()
SETUP_CELL = """# Set-up, hidden in the book: XLA's older CPU code generator compiles small
# programs faster (a notebook compiles hundreds); on Google Colab, install the library.
import os
import subprocess
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false")
if "google.colab" in sys.modules:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "vardax-tutorials @ git+{url}"],
        check=True,
    )"""


def toc_files(node=TOC):
    files = []
    if isinstance(node, dict):
        if "file" in node:
            files.append(node["file"])
        if "root" in node:
            files.append(node["root"])
        for value in node.values():
            files += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files += toc_files(item)
    return files


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 9


def test_pairs_in_sync():
    assert notebooks.check() == []


@pytest.mark.parametrize("md", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_template(md):
    nb = jupytext.read(md)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.strip() == SETUP_CELL.format(url=CONFIG["repository"]["url"])
    assert "remove-cell" in code[0].metadata.get("tags", [])
    assert "import vardax_tutorials as vdx" in code[1].source
    text = md.read_text()
    assert re.search(r"^# \d+\.\d+ ", text, re.M), "title with its number"
    for heading in ("**Learning objectives**", "**Prerequisites**", "## Summary", "## References", "{footbibliography}"):
        assert heading in text, heading
    assert len(re.findall(r"^:::\{exercise\}", text, re.M)) >= 2
    assert len(re.findall(r"^```\{solution-start\}", text, re.M)) >= 2
    assert "assert " in "\n".join(c.source for c in code)


def test_toc_lists_every_notebook_and_every_file_exists():
    listed = toc_files()
    for entry in listed:
        assert (ROOT / f"{entry}.md").exists(), entry
    for md in NOTEBOOKS:
        assert str(md.relative_to(ROOT).with_suffix("")) in listed, md
    for md in NOTEBOOKS:
        assert str(md.parent.relative_to(ROOT) / "index") in listed, md.parent


def test_intro_lists_the_whole_curriculum_and_links_written_notebooks():
    intro = (ROOT / "book" / "intro.md").read_text()
    rows = [line for line in intro.splitlines() if line.startswith("| ") and "Part " in line and "—" in line]
    assert len(rows) == 21
    titles = re.findall(r"(?:\[|· |\| )(\d+\.\d+) ", "\n".join(rows))
    assert len(titles) == 82
    links = set(re.findall(r"\]\(([\w/]+\.md)\)", "\n".join(rows)))
    for md in NOTEBOOKS:
        assert str(md.relative_to(ROOT / "book")) in links, md
    for link in links:
        assert (ROOT / "book" / link).exists(), link
    written = len([link for link in links if not link.endswith("index.md")])
    assert written == len(NOTEBOOKS)
    assert f"82 tutorials; {written} are written so far" in intro


def test_intro_example_runs():
    intro = (ROOT / "book" / "intro.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", intro, re.S).group(1)
    namespace = {}
    exec(snippet, namespace)
    x_a = namespace["x_a"]
    assert x_a.shape == (3,) and float(x_a[1]) == 0.0 and float(x_a[0]) > 0.0


def test_offline_check_finds_remote_resources(tmp_path):
    """The check `make book`/`make book-check` run on the built HTML: it must catch a CDN script or stylesheet."""
    (tmp_path / "_static" / "mathjax").mkdir(parents=True)
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").write_text("")
    page = tmp_path / "page.html"
    page.write_text('<html><head><script src="_static/mathjax/tex-chtml.js"></script>'
                    '<link rel="stylesheet" href="_static/a.css"><a href="https://example.org">a link</a></head></html>')
    assert notebooks.offline_check(tmp_path) == []
    page.write_text('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
                    '<link rel="stylesheet" href="//fonts.example.org/a.css">')
    assert len(notebooks.offline_check(tmp_path)) == 2
    page.write_text("<html></html>")
    sheet = tmp_path / "_static" / "a.css"
    sheet.write_text('@import "../basic.css"; .x { background: url(img/x.png); }')   # local: fine
    assert notebooks.offline_check(tmp_path) == []
    sheet.write_text('@import "https://fonts.example.org/a.css"; @import url(//cdn.example.org/b.css);\n'
                     '@font-face { src: url("https://fonts.example.org/f.woff2"); }')
    assert len(notebooks.offline_check(tmp_path)) == 3
    sheet.unlink()
    (tmp_path / "_static" / "mathjax" / "tex-chtml.js").unlink()
    assert any("tex-chtml.js is missing" in p for p in notebooks.offline_check(tmp_path))


def test_fill_cache_takes_only_completed_runs():
    """`make book` puts an executed notebook in the book only if every code cell ran and none raised."""
    import nbformat

    def nb(*cells):
        out = nbformat.v4.new_notebook()
        out.cells = [nbformat.v4.new_code_cell(src, execution_count=count, outputs=outputs)
                     for src, count, outputs in cells]
        return out

    error = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    assert notebooks._completed(nb(("x = 1", 1, []), ("", None, []), ("print(x)", 2, [])))
    assert not notebooks._completed(nb(("x = 1", 1, []), ("print(x)", None, [])))  # stopped before the end
    assert not notebooks._completed(nb(("x = 1", 1, []), ("assert x == 2", 2, error)))
