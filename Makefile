# Gonka in Swift. `make help` lists the targets.
SWIFT ?= swift
MODEL_DIR ?= $(if $(GONKA_MODELS),$(GONKA_MODELS),$(HOME)/.cache/gonka/models)

.PHONY: help test test-python build release model bench lint module-graph protos clean devnet devnet-down e2e bench-chain bench-api bench-chain-inference explorer-shots observe soak

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

test: ## check docs/DESIGN.md's module graph, build everything (tests included), run the whole Swift suite, then the python SDK tests (openai, anthropic, litellm, langchain-openai)
	SWIFT=$(SWIFT) scripts/module-graph --check
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) scripts/swift-test
	$(MAKE) test-python

test-python: model ## the `openai`, `anthropic`, `litellm`, `langchain-openai` packages (PyPI, into .venv-test) against a debug ML node and a test devnet's proxy; the short soak (docs/SOAK.md)
	$(SWIFT) build --product gonka
	GONKA_MODEL="$(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf" scripts/test-python "$$($(SWIFT) build --show-bin-path)/gonka"

explorer-shots: model ## the explorer's browser test (headless chromium over a devnet), keeping a PNG per page in explorer-shots/
	$(SWIFT) build --product gonka
	rm -rf explorer-shots && mkdir -p explorer-shots
	GONKA_REQUIRE_BROWSER=1 GONKA_EXPLORER_SHOTS="$(CURDIR)/explorer-shots" GONKA_MODEL="$(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf" \
		scripts/test-python "$$($(SWIFT) build --show-bin-path)/gonka" test_explorer_browser.py
	@ls explorer-shots

SOAK_MINUTES ?= 30
SOAK_SEEDS ?= 1 2 3
soak: model ## the long soak (docs/SOAK.md; root and iproute2): 4 nodes in network namespaces, the proxy, openai-client load and seeded faults (kill -9, partition, slow link), SOAK_MINUTES (30) per seed of SOAK_SEEDS (1 2 3); no fork, no hang, every ngonka accounted
	$(SWIFT) build --product gonka
	@for seed in $(SOAK_SEEDS); do \
		echo "== soak, seed $$seed, $(SOAK_MINUTES) min"; \
		GONKA_SOAK=1 GONKA_SOAK_SEED=$$seed GONKA_SOAK_MINUTES=$(SOAK_MINUTES) GONKA_MODEL="$(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf" \
			scripts/test-python "$$($(SWIFT) build --show-bin-path)/gonka" test_soak_devnet.py || exit 1; \
	done

build: ## debug build of everything
	$(SWIFT) build

release: ## optimised build of the gonka binary (.build/release/gonka)
	@echo "optimised build of gonka: this takes minutes (tens of minutes on 2 cores); swift build shows its steps"
	$(SWIFT) build -c release --product gonka

model: ## fetch the embedded model (SmolLM2-135M-Instruct Q4_1) into $(MODEL_DIR)
	@GONKA_MODELS="$(MODEL_DIR)" scripts/fetch-model

bench: release model ## run the benchmarks named in the issues (release build)
	.build/release/gonka bench store
	.build/release/gonka bench tx
	.build/release/gonka bench consensus
	.build/release/gonka bench inference --model "$(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf" --threads 1,2 --runs 3
	.build/release/gonka bench chain

lint: ## swift format lint --strict over our sources (generated code excluded)
	swift format lint --strict $$(git ls-files '*.swift' | grep -v /Generated/)

module-graph: ## rewrite docs/DESIGN.md's module graph from Package.swift (make test checks it)
	SWIFT=$(SWIFT) scripts/module-graph --write

protos: ## regenerate Sources/GonkaWire/Generated from Protos/ (needs protoc)
	scripts/gen-protos

clean: ## remove build output
	rm -rf .build .build-*

.PHONY: sim
SEEDS ?= 100000
sim: ## consensus simulator over $(SEEDS) seeds, heavier faults (SEED=n replays one seed)
	$(SWIFT) build --build-tests
	SEEDS=$(SEEDS) SIM_THOROUGH=1 $(if $(SEED),SEED=$(SEED)) $(SWIFT) test --skip-build --disable-xctest --filter ConsensusTests.SimulationTests

DEVNET_DIR ?= .devnet
PARTICIPANTS ?= 4
devnet: release ## fetch the model, start $(PARTICIPANTS) validator processes (chain, PoC, API node) in $(DEVNET_DIR) and a signing proxy
	@GONKA_MODELS="$(MODEL_DIR)" scripts/fetch-model || echo "warning: the model could not be fetched: the devnet starts without API nodes and proxy"
	.build/release/gonka devnet up --dir $(DEVNET_DIR) --participants $(PARTICIPANTS)
	@echo ""
	@echo 'The gonka binary is .build/release/gonka (add it to PATH: export PATH="$(CURDIR)/.build/release:$$PATH").'
	@echo "Stop the network with: make devnet-down"

observe: ## Prometheus (Debian's package, apt-get installed if missing) on 127.0.0.1:9090 scraping the running devnet in $(DEVNET_DIR), in the foreground (not part of `make test`; docs/OBSERVE.md)
	scripts/observe --dir $(DEVNET_DIR) $(if $(PROMETHEUS_PORT),--port $(PROMETHEUS_PORT)) $(foreach u,$(ML_NODES),--ml-node $(u))

devnet-down: ## stop the local network (data stays in $(DEVNET_DIR); rm -rf it to start over)
	.build/release/gonka devnet down --dir $(DEVNET_DIR)

e2e: model ## the long multi-process tests: faults (crash, halt, partition cycles with txs flowing), validation convicting cheating hosts, a host on llama.cpp's server (python `openai` client through the proxy)
	scripts/llama-server
	$(SWIFT) build --build-tests
	GONKA_E2E=1 $(SWIFT) test --skip-build --disable-xctest --filter DevnetTests
	GONKA_E2E=1 GONKA_MODEL="$(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf" scripts/test-python "$$($(SWIFT) build --show-bin-path)/gonka"

bench-api: release model ## added latency of the network path (TA → executor → ML node) over the ML node alone
	.build/release/gonka bench api --model "$(MODEL_DIR)/SmolLM2-135M-Instruct.Q4_1.gguf"

bench-chain: release ## committed tx/s, block time and commit latency on a local 4-validator devnet
	.build/release/gonka bench chain --participants $(PARTICIPANTS)

bench-chain-inference: release ## inferences/s (Start + Finish committed) a local 4-validator devnet records
	.build/release/gonka bench chain-inference --participants $(PARTICIPANTS)
