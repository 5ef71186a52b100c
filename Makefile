# The two commands of the README: `make demo` and `make test`. Everything they need is
# installed here (Debian/Ubuntu), so a fresh machine and CI need nothing done by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# tools/*.py import the tests' `support` package (tests/support), as pytest does (pythonpath = tests)
TOOL := PYTHONPATH=tests $(PY)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# The real YAML language server for tests/clients/test_editor.py, kept inside the tree (node 20 is
# Debian's; 1.25 is the newest release that runs on it).
YAML_LS_VERSION ?= 1.25.0
YAML_LS := .cache/npm/node_modules/yaml-language-server/package.json

.PHONY: chaos test demo venv registry-binary go-tools go-packages yaml-language-server peers benchmark clean

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

# go-containerregistry's registry (the tests' second registry, with the referrers API) and its
# `crane` (issue 18's benchmark), built OFFLINE from Debian's Go source packages: no module proxy,
# nothing fetched by `go`. On Debian 12 the ggcr source is only in bookworm-backports, Debian's own
# suite: it is added to apt's sources (same mirror as the main suite) when the package has no
# candidate otherwise.
GO_BIN := .cache/go/bin
GGCR_SRC := /usr/share/gocode/src/github.com/google/go-containerregistry
GGCR_PKG := golang-github-google-go-containerregistry-dev
GO_BUILD := GO111MODULE=off GOPATH=$(CURDIR)/.cache/go/path:/usr/share/gocode GOPROXY=off GOFLAGS= \
	GOCACHE=$(CURDIR)/.cache/go/build go build -trimpath

go-tools: $(GO_BIN)/ggcr-registry $(GO_BIN)/crane

go-packages:
	@command -v go >/dev/null 2>&1 && [ -d $(GGCR_SRC)/pkg/registry ] || { \
	  $(SUDO) apt-get update -qq; \
	  if ! apt-cache policy $(GGCR_PKG) | grep -q 'Candidate: [0-9]' && \
	     grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then \
	    echo "adding Debian's bookworm-backports suite to apt (it holds $(GGCR_PKG))"; \
	    uri=$$(awk '/^URIs:/{print $$2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null); \
	    [ -n "$$uri" ] || uri=$$(awk '$$1=="deb"{print $$2; exit}' /etc/apt/sources.list); \
	    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	      "$$uri" | $(SUDO) tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null; \
	    $(SUDO) apt-get update -qq; fi; \
	  target=$$(apt-cache policy $(GGCR_PKG) | grep -q 'bookworm-backports' && echo '-t bookworm-backports'); \
	  echo "installing golang-go and $(GGCR_PKG) (Go toolchain and go-containerregistry source) $$target"; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$target golang-go $(GGCR_PKG) >/dev/null; }

$(GO_BIN)/ggcr-registry: tests/support/ggcr_registry/main.go | go-packages
	mkdir -p $(GO_BIN) .cache/go/path
	$(GO_BUILD) -o $@ ./tests/support/ggcr_registry

$(GO_BIN)/crane: | go-packages
	mkdir -p $(GO_BIN) .cache/go/path
	$(GO_BUILD) -o $@ github.com/google/go-containerregistry/cmd/crane

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

benchmark: venv registry-binary go-tools peers
	$(TOOL) tools/benchmark.py $(BENCHMARK_ARGS)

test: venv registry-binary go-tools yaml-language-server
	$(PY) -m pytest $(PYTEST_ARGS)

# Randomized fault schedules against the real registry (issue 17): `make chaos MINUTES=30`;
# replay one with `PYTHONPATH=tests .venv/bin/python tools/chaos.py --seed N [--shrink]`.
MINUTES ?= 5
chaos: venv registry-binary
	$(TOOL) tools/chaos.py --minutes $(MINUTES)

demo: venv registry-binary
	$(TOOL) tools/demo.py

clean:
	rm -rf $(VENV) .cache build dist *.egg-info .pytest_cache
