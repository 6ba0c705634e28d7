# Tugboat developer entry points. `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := runc containernetworking-plugins iptables iproute2 busybox-static docker-registry etcd-server etcd-client wrk chromium gcc libc6-dev
DATA_DIR ?= $(if $(filter 0,$(shell id -u)),/var/lib/tugboat,$(HOME)/.local/share/tugboat)

.PHONY: help setup run test lint bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(VENV)/.installed debs $(VENV)/bin/tug-shim  ## create .venv, install the package with dev tools and the Debian packages

SHIM_SRC := tugboat/node/runtime/shim/tugshim.c
$(VENV)/bin/tug-shim: $(SHIM_SRC) | $(VENV)/.installed  # the C container shim (the agent falls back to Python without it)
	@if command -v gcc >/dev/null; then gcc -Os -static -o $@ $(SHIM_SRC) 2>/dev/null || gcc -Os -o $@ $(SHIM_SRC); \
	else echo "warning: no gcc: containers run under the Python shim (≈ 10 MiB each instead of < 1)"; fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

debs:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo "warning: missing Debian packages (run as root to install):$$missing"; fi; \
	fi

run: setup  ## start a single-node tug server in the foreground
	$(VENV)/bin/tug server --data-dir $(DATA_DIR)

test: setup  ## run the whole test suite
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup  ## ruff, mypy and the dependency-direction check
	$(VENV)/bin/ruff check tugboat tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup  ## run the benchmarks and print a table
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info
