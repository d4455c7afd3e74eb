"""Notebook housekeeping for the book: find, pair, convert and check.

Every notebook is a jupytext MyST `.md` file under `book/` (the source of
truth) with a paired `.ipynb` beside it, outputs stripped, so that the Colab
button of each page opens a notebook that runs.

    python tools/notebooks.py sync               # rewrite every paired .ipynb from its .md
    python tools/notebooks.py check              # fail if a pair is missing or out of sync
    python tools/notebooks.py convert OUT_DIR    # .md -> .ipynb into OUT_DIR (for nbmake)
    python tools/notebooks.py noexec-config OUT  # _config.yml with execution off
    python tools/notebooks.py offline-check HTML # fail if a built page loads a remote script or stylesheet
    python tools/notebooks.py fill-cache CACHE EXECUTED [-j N]
        # put every notebook's outputs into the book's jupyter-cache: taken from
        # the executed copies under EXECUTED (what `make test` ran) where they
        # match, else executed here, N at a time; `jupyter-book build` then
        # executes nothing.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def find_notebooks(book: Path = BOOK) -> list[Path]:
    """The `.md` files under `book/` that are jupytext notebooks (have a kernelspec)."""
    out = []
    for path in sorted(book.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        if text.startswith("---") and "\nkernelspec:" in text.split("\n---", 1)[0]:
            out.append(path)
    return out


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (c.cell_type, c.source.strip(), tuple(c.get("metadata", {}).get("tags", ())))
        for c in nb.cells
    ]


def _read_md(path: Path):
    return jupytext.read(path, fmt="md:myst")


def _write_ipynb(nb, path: Path) -> None:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    path.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, path, fmt="ipynb")


def _in_sync(md: Path) -> bool:
    ipynb = md.with_suffix(".ipynb")
    if not ipynb.exists():
        return False
    paired = nbformat.read(ipynb, as_version=4)
    has_outputs = any(c.cell_type == "code" and c.get("outputs") for c in paired.cells)
    return not has_outputs and _cells(paired) == _cells(_read_md(md))


def sync() -> None:
    """Rewrite the paired .ipynb of every notebook whose pair is missing or out of date."""
    for md in find_notebooks():
        if _in_sync(md):
            continue
        _write_ipynb(_read_md(md), md.with_suffix(".ipynb"))
        print(f"synced {md.relative_to(ROOT)}")


def check() -> list[str]:
    """Problems with the pairs, one message each (empty when all is well)."""
    problems = []
    notebooks = find_notebooks()
    for md in notebooks:
        ipynb = md.with_suffix(".ipynb")
        rel = md.relative_to(ROOT)
        if not ipynb.exists():
            problems.append(f"{rel}: no paired {ipynb.name}; run `python tools/notebooks.py sync`")
            continue
        paired = nbformat.read(ipynb, as_version=4)
        if _cells(paired) != _cells(_read_md(md)):
            problems.append(f"{rel}: {ipynb.name} is out of sync; run `python tools/notebooks.py sync`")
        if any(c.cell_type == "code" and c.get("outputs") for c in paired.cells):
            problems.append(f"{rel}: {ipynb.name} has outputs; run `python tools/notebooks.py sync`")
    mds = {md.with_suffix("") for md in notebooks}
    for ipynb in sorted(BOOK.rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in ipynb.parts and ipynb.with_suffix("") not in mds:
            problems.append(f"{ipynb.relative_to(ROOT)}: orphan notebook with no .md source")
    return problems


def convert(out_dir: Path) -> None:
    for md in find_notebooks():
        _write_ipynb(_read_md(md), out_dir / md.relative_to(BOOK).with_suffix(".ipynb"))


def noexec_config(out: Path) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


class _RemoteResources(HTMLParser):
    """Collects the remote resources a page loads: script `src`, stylesheet/preload/icon `href`."""

    REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
    LOADED_LINKS = {"stylesheet", "preload", "modulepreload", "icon", "shortcut icon"}

    def __init__(self) -> None:
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script" and self.REMOTE.match(a.get("src", "")):
            self.remote.append(f"<script src={a['src']}>")
        elif tag == "link" and self.REMOTE.match(a.get("href", "")):
            if a.get("rel", "").lower() in self.LOADED_LINKS:
                self.remote.append(f"<link rel={a['rel']} href={a['href']}>")


# A stylesheet's own remote loads: `@import "https://..."`, `@import url(//...)`, `url(https://...)`.
_CSS_REMOTE = re.compile(r"""(?:@import\s+(?:url\(\s*)?|url\(\s*)["']?((?:https?:)?//[^"')\s;]+)""", re.IGNORECASE)


def offline_check(html_dir: Path) -> list[str]:
    """Every remote script, stylesheet or CSS import a built page would load (empty when the book works offline)."""
    pages = sorted(html_dir.rglob("*.html"))
    if not pages:
        return [f"{html_dir}: no HTML pages found (build the book first)"]
    problems = []
    for page in pages:
        parser = _RemoteResources()
        parser.feed(page.read_text(encoding="utf-8"))
        problems += [f"{page.relative_to(html_dir)}: loads {r}" for r in parser.remote]
    for sheet in sorted(html_dir.rglob("*.css")):
        found = _CSS_REMOTE.findall(sheet.read_text(encoding="utf-8", errors="replace"))
        problems += [f"{sheet.relative_to(html_dir)}: loads {url}" for url in found]
    mathjax = html_dir / "_static" / "mathjax" / "tex-chtml.js"
    if not mathjax.exists():
        problems.append(f"{mathjax.relative_to(html_dir)} is missing: the maths would not render")
    return problems


def _read_for_book(md: Path):
    """The notebook as the book build reads it (myst-nb's reader), so that the cache keys match."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(md.read_text(encoding="utf-8"), add_source_map=True, path=str(md))


def _code_sources(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _completed(nb) -> bool:
    """Every code cell ran (has an execution count) and none raised: a notebook safe to put in the book."""
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    ran = all(c.get("execution_count") is not None for c in code)
    raised = any(o.get("output_type") == "error" for c in code for o in c.get("outputs", []))
    return ran and not raised


def _execute(args: tuple[str, object, int]) -> tuple[str, object, float, str | None]:
    """Execute one notebook (as `_read_for_book` read it) in its own folder: a worker of `fill_cache`."""
    from jupyter_cache.executors.utils import single_nb_execution

    md, nb, timeout = args
    result = single_nb_execution(nb, cwd=str(Path(md).parent), timeout=timeout, allow_errors=False, meta_override=True)
    return md, nb, result.time, (result.exc_string if result.err is not None else None)


def fill_cache(cache_dir: Path, executed_dir: Path, jobs: int = 2, timeout: int | None = None) -> list[str]:
    """Fill the jupyter-cache `jupyter-book build` reads; return the notebooks that failed.

    `timeout` (seconds per cell) defaults to the book's own, `execute.timeout` in `_config.yml`.
    """
    if timeout is None:
        timeout = int(yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"])
    from concurrent.futures import ProcessPoolExecutor

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    to_run, reused = [], 0
    for md in find_notebooks():
        nb = _read_for_book(md)
        try:
            cache.match_cache_notebook(nb)
            continue
        except KeyError:
            pass
        executed = executed_dir / md.relative_to(BOOK).with_suffix(".ipynb")
        if executed.exists():
            done = nbformat.read(executed, as_version=4)
            if _code_sources(done) == _code_sources(nb) and _completed(done):
                code = [c for c in nb.cells if c.cell_type == "code"]
                for cell, ran in zip(code, (c for c in done.cells if c.cell_type == "code")):
                    cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
                cache.cache_notebook_bundle(CacheBundleIn(nb, str(md)), check_validity=False, overwrite=True)
                reused += 1
                continue
        to_run.append((str(md), nb))
    print(f"jupyter-cache: {reused} notebooks taken from {executed_dir}, {len(to_run)} to execute")
    failed = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for md, nb, seconds, error in pool.map(_execute, [(m, nb, timeout) for m, nb in to_run]):
            rel = Path(md).relative_to(ROOT)
            if error is not None:
                print(f"FAILED {rel}\n{error}")
                failed.append(str(rel))
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, md, data={"execution_seconds": seconds}), check_validity=False, overwrite=True
            )
            print(f"executed {rel} in {seconds:.1f} s")
    return failed


def main(argv: list[str]) -> int:
    if argv[:1] == ["sync"]:
        sync()
    elif argv[:1] == ["check"]:
        problems = check()
        print("\n".join(problems) or f"{len(find_notebooks())} notebook pairs in sync")
        return 1 if problems else 0
    elif argv[:1] == ["convert"] and len(argv) == 2:
        convert(Path(argv[1]))
    elif argv[:1] == ["noexec-config"] and len(argv) == 2:
        noexec_config(Path(argv[1]))
    elif argv[:1] == ["fill-cache"] and len(argv) in (3, 5) and (len(argv) == 3 or argv[3] == "-j"):
        jobs = int(argv[4]) if len(argv) == 5 else 2
        return 1 if fill_cache(Path(argv[1]), Path(argv[2]), jobs) else 0
    elif argv[:1] == ["offline-check"] and len(argv) == 2:
        problems = offline_check(Path(argv[1]))
        print("\n".join(problems) or f"{argv[1]}: no page loads a remote script or stylesheet")
        return 1 if problems else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
