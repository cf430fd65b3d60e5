# Two commands on a fresh machine: `make run` and `make test`. Both create/update .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OHMPI_VAR ?= $(CURDIR)/var

.PHONY: run test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "make: '$(PYTHON) -m venv' failed: install venv support (Debian: apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	@# Every Python of this venv (supervisorctl included) defaults OHMPI_VAR to ./var of this checkout.
	$(BIN)/python -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "ohmpi_var.pth").write_text("import os; os.environ.setdefault(\"OHMPI_VAR\", \"$(CURDIR)/var\")\n")'
	@touch $@

run: venv
	@install -d -m 700 "$(OHMPI_VAR)" "$(OHMPI_VAR)/log"
	@echo "ohmpi: starting under supervisord (runtime files in $(OHMPI_VAR)); Ctrl-C stops everything"
	umask 077 && exec $(BIN)/supervisord -c supervisor.conf

test: venv
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python bench/bus_speed.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
