# Two commands on a fresh machine: `make run` and `make test`. Both create/update .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OHMPI_VAR ?= $(CURDIR)/var

.PHONY: run test lint bench venv clean install-service uninstall-service

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "make: '$(PYTHON) -m venv' failed: install venv support (Debian: apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench,mqtt,inversion,interop]'
	@# Every Python of this venv (supervisorctl included) defaults OHMPI_VAR to ./var of this checkout.
	$(BIN)/python -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "ohmpi_var.pth").write_text("import os; os.environ.setdefault(\"OHMPI_VAR\", \"$(CURDIR)/var\")\n")'
	@touch $@

run: venv
	@install -d -m 700 "$(OHMPI_VAR)" "$(OHMPI_VAR)/log"
	@echo "ohmpi: starting under supervisord (runtime files in $(OHMPI_VAR)); Ctrl-C stops everything"
	umask 077 && exec $(BIN)/supervisord -c supervisor.conf

# The suite on TEST_WORKERS parallel workers (pytest-xdist), one test file per worker at a time so
# a module's shared System stays one; most tests wait on real processes, so 4 suit 2 cores.
TEST_WORKERS ?= 4
test: venv lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# Lint and format check (ruff, configured in pyproject.toml); `$(BIN)/ruff format .` fixes the format.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv
	$(BIN)/python bench/bus_speed.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis

# ---- At boot on the instrument (docs/deploy.md): `make venv && sudo make install-service` ----
# DESTDIR=/some/root only writes the files under it (no useradd, no systemctl): packaging, tests.
DESTDIR ?=
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
SERVICE ?= ohmpi
SERVICE_USER ?= ohmpi
APPDIR ?= $(CURDIR)
HW_WATCHDOG ?= 15s
SERVICE_GROUPS ?= i2c gpio spi dialout
CONFIG_FILE := $(SYSCONFDIR)/$(SERVICE)/ohmpi.toml
SERVICE_FILES := $(UNITDIR)/$(SERVICE).service $(PREFIX)/bin/$(SERVICE) \
  $(SYSCONFDIR)/systemd/system.conf.d/$(SERVICE)-watchdog.conf $(SYSCONFDIR)/systemd/journald.conf.d/$(SERVICE).conf
RENDER = sed -e 's|@APPDIR@|$(APPDIR)|g; s|@USER@|$(SERVICE_USER)|g; s|@SERVICE@|$(SERVICE)|g' \
  -e 's|@CONFIG@|$(CONFIG_FILE)|g; s|@HW_WATCHDOG@|$(HW_WATCHDOG)|g' \
  -e 's|@PROTECT_HOME@|$(if $(filter /home/% /root/%,$(APPDIR)/),read-only,true)|g'

install-service:
	@test -n "$(DESTDIR)" || test -x "$(APPDIR)/.venv/bin/supervisord" || { \
	  echo "make: no $(APPDIR)/.venv yet: run 'make venv' first (as the checkout's owner, not root)"; exit 1; }
	install -d -m 755 "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(SYSCONFDIR)/$(SERVICE)"
	$(RENDER) deploy/ohmpi.service.in > "$(DESTDIR)$(UNITDIR)/$(SERVICE).service"
	chmod 644 "$(DESTDIR)$(UNITDIR)/$(SERVICE).service"
	$(RENDER) deploy/ohmpi-cli.in > "$(DESTDIR)$(PREFIX)/bin/$(SERVICE)"
	chmod 755 "$(DESTDIR)$(PREFIX)/bin/$(SERVICE)"
	@if [ -e "$(DESTDIR)$(CONFIG_FILE)" ]; then echo "kept $(DESTDIR)$(CONFIG_FILE)"; \
	  else install -m 644 deploy/ohmpi.toml "$(DESTDIR)$(CONFIG_FILE)" && echo "wrote $(DESTDIR)$(CONFIG_FILE)"; fi
	install -d -m 755 "$(DESTDIR)$(SYSCONFDIR)/systemd/journald.conf.d"
	install -m 644 deploy/journald.conf "$(DESTDIR)$(SYSCONFDIR)/systemd/journald.conf.d/$(SERVICE).conf"
	@if [ -n "$(HW_WATCHDOG)" ]; then \
	  install -d -m 755 "$(DESTDIR)$(SYSCONFDIR)/systemd/system.conf.d" && \
	  $(RENDER) deploy/watchdog.conf.in > "$(DESTDIR)$(SYSCONFDIR)/systemd/system.conf.d/$(SERVICE)-watchdog.conf" && \
	  chmod 644 "$(DESTDIR)$(SYSCONFDIR)/systemd/system.conf.d/$(SERVICE)-watchdog.conf"; fi
ifeq ($(DESTDIR),)
	getent passwd $(SERVICE_USER) >/dev/null || useradd --system --user-group --no-create-home \
	  --home-dir /var/lib/$(SERVICE) --shell /usr/sbin/nologin $(SERVICE_USER)
	for g in $(SERVICE_GROUPS); do if getent group $$g >/dev/null; then usermod -a -G $$g $(SERVICE_USER); fi; done
	@runuser -u $(SERVICE_USER) -- test -r "$(APPDIR)/supervisor.conf" -a -x "$(APPDIR)/.venv/bin/python" || { \
	  echo "make: user $(SERVICE_USER) cannot read $(APPDIR) or run its .venv/bin/python: put the checkout" \
	    "where it can (/opt/ohmpi) and build the venv from the system Python (make venv PYTHON=/usr/bin/python3)"; exit 1; }
	@# bytecode made now, as the checkout's owner: the service may not write into the checkout
	cd "$(APPDIR)" && runuser -u "$$(stat -c %U .)" -- .venv/bin/python -m compileall -q bus ohmpi workers web client >/dev/null
	systemctl daemon-reload
	systemctl enable $(SERVICE).service
	systemctl restart $(SERVICE).service
	@echo "$(SERVICE): running at boot as $(SERVICE_USER); config $(CONFIG_FILE), data /var/lib/$(SERVICE)"
	$(if $(HW_WATCHDOG),@echo "$(SERVICE): the hardware watchdog applies at the next boot (or: sudo systemctl daemon-reexec)")
endif

uninstall-service:
ifeq ($(DESTDIR),)
	-systemctl disable --now $(SERVICE).service
endif
	rm -f $(addprefix "$(DESTDIR),$(addsuffix ",$(SERVICE_FILES)))
ifeq ($(DESTDIR),)
	systemctl daemon-reload
endif
	@echo "$(SERVICE): service removed; kept $(DESTDIR)$(CONFIG_FILE), /var/lib/$(SERVICE) (the data) and user $(SERVICE_USER)"
