"""Notebook housekeeping for the book: find, pair, convert and check.

Every notebook is a jupytext MyST `.md` file under `book/` (the source of
truth) with a paired `.ipynb` beside it, outputs stripped, so that the Colab
button of each page opens a notebook that runs.

    python tools/notebooks.py sync               # rewrite every paired .ipynb from its .md
    python tools/notebooks.py check              # fail if a pair is missing or out of sync
    python tools/notebooks.py convert OUT_DIR    # .md -> .ipynb into OUT_DIR (for nbmake)
    python tools/notebooks.py noexec-config OUT  # _config.yml with execution off
"""

from __future__ import annotations

import sys
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
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
