# kquant developer tasks. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.DEFAULT_GOAL := help
.PHONY: help install install-test demo test test-corpus lint format docs bench pictures clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# uv makes the venv (with pip in it) and installs the ~470 MB of test tools in a few
# seconds where venv and pip take about 28 s; it is fetched once into .venv/.uv, and
# venv and pip are the fallback. `install` and `bench` compile the bytecode as pip
# does (a machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile
# scikit-learn at every call, 2.7 s instead of 1.2 s); `install-test` does not: the
# suite compiles what it imports, once (hence PYTHONDONTWRITEBYTECODE unset for it).
UV := $(VENV)/.uv/bin/uv

$(BIN)/python:
	{ $(PYTHON) -m pip install -q --disable-pip-version-check --target $(VENV)/.uv uv && \
	  $(UV) venv -q --seed --allow-existing --python $(PYTHON) $(VENV); } || \
	  $(PYTHON) -m venv $(VENV)

# $(call install,SPEC[,--compile-bytecode]): uv if it is there, else pip (which compiles).
# Editable installs put the checkout on sys.path with a plain .pth line
# (editable_mode=compat): setuptools' default import hook costs every Python start,
# and so every `kquant` call, 13-22 ms.
EDITABLE := --config-settings editable_mode=compat
install = { [ -x $(UV) ] && $(UV) pip install -q $(2) --python $(BIN)/python $(1); } || \
	  $(PIP) install $(1)

install: $(BIN)/python ## Install kquant (editable) into .venv
	$(call install,-e . $(EDITABLE),--compile-bytecode)

install-test: $(BIN)/python ## Install kquant with the test and lint tools into .venv
	$(call install,-e '.[test]' $(EDITABLE))

demo: install ## Install, then quantize sample_images/china.jpg to 64 colors
	@mkdir -p demo-output
	$(BIN)/kquant compress sample_images/china.jpg -k 64 -o demo-output/china-k64.png --force
	@echo "wrote demo-output/china-k64.png; run kquant yourself with: source $(VENV)/bin/activate"

test: install-test ## Install the test tools and run the test suite
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

test-corpus: install-test ## Fetch Pillow's ~1,000 test images (cached) and run kquant over them (about 2 min)
	$(BIN)/python tests/corpus.py fetch >/dev/null
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -m corpus tests/test_corpus.py

lint: install-test ## ruff check and format check, mypy over kquant/
	$(BIN)/ruff check kquant tests bench
	$(BIN)/ruff format --check kquant tests bench
	$(BIN)/mypy

format: install-test ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix kquant tests bench
	$(BIN)/ruff format kquant tests bench

docs: install ## Remake docs/reference.md from the commands' help (a test checks it)
	$(BIN)/python -m kquant.cli.reference > docs/reference.md

bench: install ## Benchmark against pngquant, libimagequant, Pillow, ImageMagick, classic sklearn (long)
	@command -v pngquant >/dev/null && [ -x /usr/bin/convert ] && [ -x /usr/bin/time ] && \
	  command -v ffmpeg >/dev/null && command -v gifsicle >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq pngquant imagemagick time ffmpeg gifsicle; }
	$(call install,-e '.[bench]' $(EDITABLE),--compile-bytecode)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/batch.py $(BATCH_ARGS)
	$(BIN)/python bench/scale.py $(SCALE_ARGS)
	$(BIN)/python bench/perceptual.py $(PERCEPTUAL_ARGS)
	$(BIN)/python bench/rate.py $(RATE_ARGS)
	$(BIN)/python bench/anim.py $(ANIM_ARGS)
	$(BIN)/python bench/looks.py $(LOOKS_ARGS)
	$(BIN)/python bench/startup.py $(STARTUP_ARGS)

pictures: install ## Remake the README's pictures in docs/pictures (needs chromium for the page)
	@mkdir -p demo-output docs/pictures
	$(BIN)/kquant compare sample_images/china.jpg -k 16 --zoom --side-by-side demo-output/sheet.png --force
	$(BIN)/kquant compress demo-output/sheet.png -k 128 -O 2 -o docs/pictures/compare-sheet.png --force -q
	$(BIN)/kquant sweep sample_images/china.jpg -k 2..256 --methods kmeans,random --plot demo-output/sweep.png --force
	$(BIN)/kquant compress demo-output/sweep.png -k 64 -O 2 -o docs/pictures/sweep.png --force -q
	$(BIN)/kquant palette sample_images/china.jpg -k 16 --swatch docs/pictures/swatch.png --force
	$(BIN)/kquant compress sample_images/china.jpg sample_images/coffee.png sample_images/chelsea-alpha.png \
	  sample_images/astronaut.png -k 16 -o demo-output/batch --html demo-output/batch/report.html \
	  --metrics deltae --force -q
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,760 \
	  --screenshot=demo-output/report.png "file://$(CURDIR)/demo-output/batch/report.html"
	$(BIN)/kquant compress demo-output/report.png -k 64 -O 2 -o docs/pictures/report.png --force -q

clean: ## Remove the virtualenv, caches and demo output
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache *.egg-info bench/work/outputs
