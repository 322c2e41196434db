# Two commands for readers:   make book   (build the HTML book into _build/html)
#                              make test   (unit + property tests, nbval on every chapter, strict book build)
# Both create a virtual environment in .venv on first use and install everything into it.
# Override for your machine, e.g.:
#   make test PYTHON=python3.11 TORCH_SPEC="torch>=2.3"
#   make book TORCH_PIP_ARGS=                      (GPU: torch from the package index, the CUDA build on Linux)
#   make book TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu128"   (GPU: a chosen CUDA build)

PYTHON     ?= python3
VENV       ?= .venv
# The CPU build of torch, installed before anything else (on Linux the package index's torch is the
# multi-GB CUDA build). TORCH_PIP_ARGS=auto: tools/torch_source.py takes torch from PyTorch's CPU index
# (TORCH_CPU_INDEX) when that answers within a few seconds, else from the package index (fast fallback,
# for machines that reach only the registries). Set TORCH_PIP_ARGS yourself to skip the probe.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?= auto
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
BIN        := $(VENV)/bin
# Same hash seed for the executing kernels and for nbval (set/dict order), one torch thread.
RUN        := PYTHONHASHSEED=0 OMP_NUM_THREADS=1 SDL_VIDEODRIVER=dummy
NOTEBOOKS  := $(shell find chapters -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
# Headless Chromium (Debian: apt-get install chromium fonts-noto-cjk poppler-utils) renders the PDF and the
# render check; without it those steps print a notice and are skipped.
CHROMIUM   := $(shell command -v chromium || command -v chromium-browser)
NO_CHROMIUM := echo "NOTICE: chromium not found, so the PDF and the render check are skipped (Debian: apt-get install chromium fonts-noto-cjk poppler-utils)"

.PHONY: book test install lab unit nbval strict-book render downloads zip pdf execute check-render clean
.PHONY: book-zh strict-book-zh locales check-translations check-render-zh

book: install
	$(BIN)/jupyter-book build . --all
	$(MAKE) --no-print-directory downloads
	$(MAKE) --no-print-directory book-zh

test: install unit nbval strict-book check-translations render

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	args='$(TORCH_PIP_ARGS)'; \
	if [ "$$args" = auto ]; then args=$$($(BIN)/python tools/torch_source.py --index '$(TORCH_CPU_INDEX)'); fi; \
	$(BIN)/python -m pip install "$(TORCH_SPEC)" $$args
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

# Interactive use: JupyterLab in the same .venv, installed on first use (the tests and the book do not need it).
lab: install
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install "jupyterlab>=4"
	$(BIN)/jupyter lab chapters

# verl 0.9.1, only for tests/test_verl_integration.py (gaelib's estimators in verl's registry, checked against
# verl's own code and its CPU test); --no-deps: see requirements-verl.txt for why and what it costs.
$(VENV)/.installed-verl: requirements-verl.txt $(VENV)/.installed
	$(BIN)/python -m pip install --no-deps -r requirements-verl.txt
	touch $@

unit: install $(VENV)/.installed-verl
	GAELIB_REQUIRE_VERL=1 $(RUN) $(BIN)/python -m pytest -q tests --doctest-modules gaelib

nbval: install
	$(BIN)/python tools/check_notebooks.py $(NOTEBOOKS)
	$(BIN)/python tools/install_cell.py --check $(NOTEBOOKS)
	$(RUN) $(BIN)/python -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg \
		-n 2 --dist loadfile -p no:cacheprovider $(NOTEBOOKS)

strict-book: install
	rm -rf _build
	$(BIN)/jupyter-book build . -n -W --keep-going --all
	$(MAKE) strict-book-zh

# The strict book as a reader sees it (tools/check_render.py at 1280 and 400 px), and the downloads checked.
render: strict-book
ifneq ($(CHROMIUM),)
	$(MAKE) --no-print-directory downloads
	$(BIN)/python tools/check_render.py _build/html
	$(BIN)/python tools/check_render.py _build/html/zh_CN
else
	@$(NO_CHROMIUM)
endif

# What every page links under "Take it away": the chapter notebooks as one zip, the book as one PDF.
downloads: zip
ifneq ($(CHROMIUM),)
	$(MAKE) --no-print-directory pdf
else
	@$(NO_CHROMIUM)
endif

zip: install
	$(BIN)/python tools/downloads.py zip

# The whole book as one PDF: the single-page HTML build printed by headless Chromium, then checked
# (page count, fonts embedded, no raw TeX, every page of _toc.yml, the Chinese terms).
pdf: install
	rm -rf _build/singlehtml
	$(BIN)/jupyter-book build . --builder singlehtml
	$(BIN)/python tools/downloads.py pdf
	$(BIN)/python tools/downloads.py check

# For contributors: re-execute notebooks in place (all, or NB=chapters/x.ipynb), then commit them.
execute: install
	$(RUN) $(BIN)/python tools/execute_notebooks.py $(if $(NB),$(NB),$(NOTEBOOKS))

# The built book as a reader sees it, in headless Chromium (needs Debian's `chromium` package).
check-render: book
	$(BIN)/python tools/check_render.py _build/html
	$(BIN)/python tools/downloads.py check

# The Chinese edition (中文版), from the same notebooks: prose from locales/zh_CN/LC_MESSAGES/*.po,
# built into _build/html/zh_CN next to the English _build/html (see tools/build_zh.py).
book-zh: install
	$(BIN)/python tools/build_zh.py

strict-book-zh: install
	$(BIN)/python tools/build_zh.py -n -W --keep-going

# After changing English prose: extract the English messages and merge them into the catalogues
# (changed messages become fuzzy, new ones untranslated); then translate, and `make check-translations`.
locales: install
	$(BIN)/python tools/build_zh.py --gettext
	$(BIN)/sphinx-intl update -p _build/gettext -l zh_CN -d locales

# Catalogues up to date with the English, complete ones with no untranslated/fuzzy entry, math, code,
# roles and links intact, glossary terms used (tools/check_translations.py).
check-translations: install
	$(BIN)/python tools/build_zh.py --gettext
	$(BIN)/python tools/check_translations.py --pot _build/gettext --stats

# The render check on the Chinese pages (needs Debian's chromium and fonts-noto-cjk).
check-render-zh: book
	$(BIN)/python tools/check_render.py _build/html/zh_CN

clean:
	rm -rf _build
