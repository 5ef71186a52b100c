# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed here (Debian/Ubuntu), so a fresh machine and CI need nothing done by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# The real YAML language server for tests/clients/test_editor.py, kept inside the tree (node 20 is
# Debian's; 1.25 is the newest release that runs on it).
YAML_LS_VERSION ?= 1.25.0
YAML_LS := .cache/npm/node_modules/yaml-language-server/package.json

.PHONY: test demo venv registry-binary yaml-language-server peers benchmark clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
		{ echo "installing python3-venv"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

registry-binary:
	@command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || \
		{ echo "installing docker-registry (CNCF distribution)"; \
		  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker-registry; }

yaml-language-server: $(YAML_LS)

$(YAML_LS): Makefile
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || \
		{ echo "installing nodejs and npm"; \
		  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	npm install --prefix .cache/npm --no-audit --no-fund --silent yaml-language-server@$(YAML_LS_VERSION)
	touch $@

# The peers tools/benchmark.py compares against, from Debian: buildah (`buildah manifest`) and the
# docker CLI (`docker manifest`; no daemon is started or needed). manifest-tool is used when
# ../shared/peers/manifest-tool is there; crane comes from `make go-tools`.
peers:
	@command -v buildah >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 || \
		{ echo "installing buildah and docker.io (the docker CLI)"; \
		  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq buildah docker.io; }

benchmark: venv registry-binary peers
	$(PY) tools/benchmark.py $(BENCHMARK_ARGS)

test: venv registry-binary yaml-language-server
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv registry-binary
	$(PY) tools/demo.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info .pytest_cache
