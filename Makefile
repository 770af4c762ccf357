# spark-hrl-autoscaler: every target installs what it needs, so each works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest

.PHONY: help install system-deps binaries test lint typecheck unit e2e demo bench train ablation clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv with everything the tests, training and demo need

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[train,k8s,dev]"
	touch $@

system-deps:  ## Debian packages: Prometheus for the e2e tests, openssl for the local CA
	@missing=""; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing (the tests start their own Prometheus)"; \
	  created=""; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created=1; \
	  fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  status=$$?; [ -n "$$created" ] && rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

binaries: install  ## build kube-apiserver, etcd and helm once (cached in ~/.cache/hrl-autoscaler)
	$(BIN)/python -m hrl_autoscaler.devenv build

test: lint typecheck unit e2e  ## the whole suite, as CI runs it

lint: install
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench

typecheck: install
	$(BIN)/mypy

unit: install  ## fast tests: simulator, baselines, evaluation, pure logic
	$(PYTEST) -m "not e2e" tests

e2e: install system-deps binaries  ## tests on a real kube-apiserver, etcd and Prometheus
	$(PYTEST) -m e2e tests

demo: install system-deps binaries  ## the main job: the operator live on a local control plane
	$(BIN)/hrl-autoscaler demo --report-dir reports/demo

bench: install system-deps binaries  ## benchmarks quoted in the notes
	mkdir -p reports/bench
	$(BIN)/hrl-autoscaler bench sim --json reports/bench/sim.json
	$(BIN)/hrl-autoscaler bench policy --json reports/bench/policy.json
	$(BIN)/hrl-autoscaler bench operator --apps 200 --json reports/bench/operator.json
	$(BIN)/python bench/evaluate_day.py --json reports/bench/evaluate.json

train: install  ## retrain the committed policies (PPO, then one TD3 meta-controller per objective)
	$(BIN)/hrl-autoscaler train ppo --timesteps 1200000 --out policies/ppo
	$(BIN)/hrl-autoscaler train meta --objective r_meta --timesteps 40000 --gamma 0.9 --out policies/meta-r_meta
	$(BIN)/hrl-autoscaler train meta --objective slo --timesteps 60000 --gamma 0.5 --out policies/meta-slo

ablation: install  ## the seed's ablation with every baseline (tables and plot in docs/ablation)
	$(BIN)/hrl-autoscaler ablation --seeds 5 --out docs/ablation

clean:
	rm -rf $(VENV) reports .mypy_cache .ruff_cache .pytest_cache
