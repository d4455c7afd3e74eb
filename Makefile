# The two commands a reader needs: `make book` and `make test`.
# Both create .venv (from the python3 on PATH) and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NB_DIR := build/notebooks
NB_TIMEOUT ?= 300

.PHONY: all install book test unit notebooks book-check sync clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book]"
	touch $@

install: $(VENV)/.installed

## make book: execute every notebook (cached) and build the HTML book into _build/html.
book: install
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

## make test: unit tests, every notebook executed once, then the book structure checked.
test: unit notebooks book-check

unit: install
	$(BIN)/python -m pytest tests -n 2 -p no:cacheprovider --durations=10

notebooks: install
	rm -rf $(NB_DIR)
	$(BIN)/python tools/notebooks.py convert $(NB_DIR)
	$(BIN)/python -m pytest $(NB_DIR) --nbmake -n 2 --nbmake-timeout=$(NB_TIMEOUT) \
		-p no:cacheprovider --durations=0

book-check: install
	$(BIN)/python tools/notebooks.py noexec-config build/_config_check.yml
	rm -rf build/check
	$(BIN)/jupyter-book build . --config build/_config_check.yml --path-output build/check \
		--builder html -W -n --keep-going

## make sync: rewrite the paired .ipynb of every notebook after editing its .md.
sync: install
	$(BIN)/python tools/notebooks.py sync

clean:
	rm -rf _build build
