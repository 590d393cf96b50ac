# Thin front over the npm scripts; `make help` lists the targets.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(HOME)/go/bin

.PHONY: help setup build lint test demo bench soak ci clean

help: ## list targets
	@grep -E '^[a-z]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup: ## install dependencies and the FerretDB test server (idempotent)
	@[ -d node_modules ] || npm ci
	@bash test/support/install-ferretdb.sh

build: ## compile TypeScript to dist/
	npm run build

lint: build ## typed lint (gates the tests)
	npm run lint

test: setup ## build, lint, then every test against real MariaDB and MongoDB-wire servers
	npm test

demo: setup ## sandbox MariaDB + FerretDB, a steady workload, sdl streaming it
	npm run demo

bench: setup ## throughput, lag and memory as JSON lines
	npm run bench

soak: setup ## the long fault-injection run (hundreds of kill -9) and generated cases for SOAK_MINUTES (default 60)
	npm run soak

ci: ## what CI runs
	bash .ci/run

clean: ## remove build output and the demo sandbox
	rm -rf dist .sandbox
