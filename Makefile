# SPDX-License-Identifier: MIT
# The README's two commands live here: `make run` and `make test`. Both install the
# Debian packages that are missing, build, and go. Nothing else is ever needed by hand.

# Build and run-time dependencies, plus the peers the end-to-end tests drive. Packages
# that ship a service (nginx) are installed with a temporary policy-rc.d so nothing is
# started on the host: the tests run their own copies inside network namespaces.
DEPS := meson ninja-build pkg-config gcc clang libclang-rt-14-dev \
        libsqlite3-dev libnftables-dev libnftnl-dev libmnl-dev libmicrohttpd-dev libjansson-dev \
        libcurl4-openssl-dev libcmocka-dev libsystemd-dev libssl-dev \
        nftables iproute2 socat curl procps python3 iperf3 openssl nginx knot knot-dnsutils \
        dnsmasq-base busybox iptables

# The peers `make bench` measures edgegw against (installed by `make bench` only).
BENCH_DEPS := haproxy nginx libnginx-mod-stream sniproxy wrk util-linux

BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
CONFIG     ?= packaging/edgegw.conf
FUZZ_SECONDS ?= 300

.PHONY: all deps bench-deps install-packages build run test unit e2e fuzz-smoke fuzz bench clean

all: build

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEPS)"

bench-deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_DEPS)"

install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  policy=""; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\n# edgegw deps: test peers are installed, not started\nexit 101\n' >/usr/sbin/policy-rc.d; \
	    chmod 0755 /usr/sbin/policy-rc.d; policy=1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  rc=$$?; [ -n "$$policy" ] && rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# Starts edgegwd in the foreground with the example config and the default state dir.
run: build
	mkdir -p /var/lib/edgegw
	./$(BUILD)/edgegwd --config $(CONFIG)

$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug

# The release build first (so `make run` binaries compile with -O2 warnings as errors),
# then unit tests and corpus replays, end-to-end tests (root, network namespaces) and a short
# fuzz run, all under ASan+UBSan; ends with one "N passed, N failed" line.
test: build $(TEST_BUILD)/build.ninja $(FUZZ_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	ninja -C $(FUZZ_BUILD)
	BUILD=$(TEST_BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/run-all.sh

unit: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	meson test -C $(TEST_BUILD) --print-errorlogs

e2e: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	BUILD=$(TEST_BUILD) tests/e2e/run.sh

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS)

bench: build bench-deps
	BUILD=$(BUILD) bench/run.sh

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
