# kquant developer tasks. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.DEFAULT_GOAL := help
.PHONY: help install install-test demo test lint format bench clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python ## Install kquant (editable) into .venv
	$(PIP) install -e .

install-test: $(BIN)/python ## Install kquant with the test and lint tools into .venv
	$(PIP) install -e '.[test]'

demo: install ## Install, then quantize sample_images/china.jpg to 64 colors
	@mkdir -p demo-output
	$(BIN)/kquant compress sample_images/china.jpg -k 64 -o demo-output/china-k64.png --force
	@echo "wrote demo-output/china-k64.png; run kquant yourself with: source $(VENV)/bin/activate"

test: install-test ## Install the test tools, then run the test suite
	$(BIN)/python -m pytest

lint: install-test ## ruff check and format check
	$(BIN)/ruff check kquant tests bench
	$(BIN)/ruff format --check kquant tests bench

format: install-test ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix kquant tests bench
	$(BIN)/ruff format kquant tests bench

bench: install ## Benchmark against pngquant, libimagequant, Pillow, ImageMagick, classic sklearn (long)
	@command -v pngquant >/dev/null && [ -x /usr/bin/convert ] && [ -x /usr/bin/time ] && \
	  command -v ffmpeg >/dev/null && command -v gifsicle >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq pngquant imagemagick time ffmpeg gifsicle; }
	$(PIP) install -e '.[bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/batch.py $(BATCH_ARGS)
	$(BIN)/python bench/scale.py $(SCALE_ARGS)
	$(BIN)/python bench/perceptual.py $(PERCEPTUAL_ARGS)
	$(BIN)/python bench/rate.py $(RATE_ARGS)
	$(BIN)/python bench/anim.py $(ANIM_ARGS)

clean: ## Remove the virtualenv, caches and demo output
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache *.egg-info bench/work/outputs
