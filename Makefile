# Everything a fresh clone needs: each target installs and builds what it uses, so `make run-server`
# and `make test` are the whole set-up. Flags: make run-server ARGS="--tcp-port 9001";
# make run-console NAME=alice HOST=10.0.0.5 PORT=9000 ROOM=general.

NPM_STAMP   := node_modules/.package-lock.json
BUILD_STAMP := dist/.built
SOURCES     := $(shell find server protocol console-client web-client bench scripts -type f 2>/dev/null) \
               package.json tsconfig.json tsconfig.base.json tsconfig.web.json

NAME ?=
HOST ?=
PORT ?=
ROOM ?=
ARGS ?=

.PHONY: install build run-server run-console run-web run-cluster test typecheck bench bench-attacks cert clean

install: $(NPM_STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: $(BUILD_STAMP)

$(BUILD_STAMP): $(NPM_STAMP) $(SOURCES)
	npm run --silent build
	@touch $@

run-server: build
	node dist/server/main.js $(ARGS)

run-console: build
	node dist/console-client/main.js $(if $(NAME),--name $(NAME)) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(ROOM),--room $(ROOM)) $(ARGS)

# Starts a server unless one already answers on the HTTP port, and prints the web client's URL.
run-web: build
	@node scripts/run-web.mjs $(ARGS)

typecheck: $(NPM_STAMP)
	npx tsc -p tsconfig.test.json && npx tsc -p tsconfig.web.json --noEmit

# Cluster mode on this machine: redis-server (installed separately) and three nodes, ports printed.
# ARGS are passed to every node.
run-cluster: build
	bash scripts/run-cluster.sh $(ARGS)

test: build typecheck
	npx vitest run

# The reference server (ws-based) is copied to a scratch dir and installed there: `ws` never enters
# our package.json. Without the shared folder, the suite runs Parley alone and says so.
BENCH_REF_SRC ?= ../shared/bench-reference
BENCH_REF_DIR ?= /tmp/bench-ref

bench: build
	@if [ ! -d "$(BENCH_REF_DIR)/node_modules/ws" ] && [ -d "$(BENCH_REF_SRC)" ]; then \
	  mkdir -p "$(BENCH_REF_DIR)" && cp -r "$(BENCH_REF_SRC)/." "$(BENCH_REF_DIR)/" && \
	  (cd "$(BENCH_REF_DIR)" && npm install --no-audit --no-fund); fi
	BENCH_REF_DIR="$(BENCH_REF_DIR)" node dist/bench/main.js --suite $(ARGS)
	node dist/bench/store.js
	node dist/bench/attacks.js
	node dist/bench/cluster.js

# Hostile clients (bench/attacks.ts): each attack against a fresh server, RSS and a canary's latency.
# ARGS="--only history-flood,who-flood" picks attacks; ARGS=--check exits 1 when a target is missed.
bench-attacks: build
	node dist/bench/attacks.js $(ARGS)

# A self-signed certificate for local use (Debian's openssl): make cert, then
# make run-server ARGS="--tls-cert certs/cert.pem --tls-key certs/key.pem" and connect with
# make run-console ARGS="--ca certs/cert.pem". It names localhost, 127.0.0.1 and ::1; more names for
# other computers: make cert CERT_SAN="DNS:chat.lan,IP:192.168.1.5". Kept if it exists: rm -r certs
# to make a new one. certs/ is in .gitignore: a private key never belongs in the repository.
CERT_DIR  ?= certs
CERT_DAYS ?= 365
CERT_SAN  ?=

cert: $(CERT_DIR)/cert.pem

$(CERT_DIR)/cert.pem:
	@mkdir -p $(CERT_DIR)
	umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	  -days $(CERT_DAYS) -subj /CN=localhost \
	  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1$(if $(CERT_SAN),$(comma)$(CERT_SAN))" \
	  -keyout $(CERT_DIR)/key.pem -out $(CERT_DIR)/cert.pem
	@chmod 644 $(CERT_DIR)/cert.pem
	@echo "made $(CERT_DIR)/cert.pem and $(CERT_DIR)/key.pem (self-signed, $(CERT_DAYS) days)"

comma := ,

clean:
	rm -rf dist
