# The two commands a reader needs: `make book` and `make test`.
# Both create .venv (from the python3 on PATH) and install what they need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NB_DIR := build/notebooks
NB_TIMEOUT ?= 300

# JAX's persistent compilation cache, shared by the notebook runs and the book
# build: a program compiled once (say a small eager op that many notebooks run)
# is read back instead of compiled again, in this run and in the next. Every
# program is cached, however quick to compile (programs with host callbacks,
# such as the library's checks under jit, are keyed per process and not reused). The unit tests do
# not use it: JAX writes entries without a lock, a worker reading an entry the
# other is writing gets a warning, and the tests turn warnings into errors.
JAX_CACHE := JAX_COMPILATION_CACHE_DIR=$(CURDIR)/build/jax-cache \
	JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0

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
## The notebooks `make test` executed (kept in $(NB_DIR)) go into the book's
## jupyter-cache as they are; the others are executed two at a time first.
book: install
	$(JAX_CACHE) $(BIN)/python tools/notebooks.py fill-cache _build/.jupyter_cache $(NB_DIR) -j 2
	$(JAX_CACHE) $(BIN)/jupyter-book build . --builder html -W -n --keep-going
	$(BIN)/python tools/notebooks.py offline-check _build/html

## make test: unit tests, every notebook executed once, then the book structure checked.
## The notebooks run one at a time, as a reader runs them, so that the time pytest reports
## for each (--durations) is that notebook's time on this machine, not a share of it.
test: unit notebooks book-check

unit: install
	$(BIN)/python -m pytest tests -n 2 -p no:cacheprovider --durations=10

notebooks: install
	rm -rf $(NB_DIR)
	$(BIN)/python tools/notebooks.py convert $(NB_DIR)
	$(JAX_CACHE) $(BIN)/python -m pytest $(NB_DIR) --nbmake --overwrite --nbmake-timeout=$(NB_TIMEOUT) \
		-p no:cacheprovider --durations=0

book-check: install
	$(BIN)/python tools/notebooks.py noexec-config build/_config_check.yml
	rm -rf build/check
	$(BIN)/jupyter-book build . --config build/_config_check.yml --path-output build/check \
		--builder html -W -n --keep-going
	$(BIN)/python tools/notebooks.py offline-check build/check/_build/html

## make sync: rewrite the paired .ipynb of every notebook after editing its .md.
sync: install
	$(BIN)/python tools/notebooks.py sync

clean:
	rm -rf _build build
