# Sluice — every developer and CI entry point. `.ci/run` and .github/workflows call these targets.
GO        ?= go
PKGS      ?= ./...
# -race multiplies CPU cost; 2-core CI machines need a generous but finite timeout.
TEST_TIMEOUT ?= 20m

.PHONY: run test compat chaos vet fmt-check build bench-engine fuzz

# make run: one broker on 127.0.0.1:9092, data in ./data, admin HTTP on 127.0.0.1:9644.
# Pass settings with ARGS, e.g. make run ARGS='--num.partitions=3 --log.dirs=/tmp/s1'.
ARGS ?=
run:
	$(GO) run ./cmd/sluice serve $(ARGS)

build:
	$(GO) build $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# make test: vet, then every test under the race detector.
test: fmt-check vet
	$(GO) test -race -timeout $(TEST_TIMEOUT) -count=1 $(PKGS)

# make compat: the cross-client suite against a real `sluice serve` process (built with -race):
# franz-go, sarama, kcat (librdkafka) and kafka-python at volume, restarts, bad input.
compat:
	$(GO) test -tags compat -count=1 -timeout 20m ./compat/

# make chaos: three `sluice serve` processes (built with -race unless CHAOS_RACE=0) behind toxiproxy
# proxies, idempotent and at-least-once acks=all producers and a committing consumer group, and a
# seeded nemesis (kill -9, SIGSTOP/SIGCONT, link cuts, clean restarts) for CHAOS_DURATION; then the
# checker (lost, reordered, duplicated, inconsistent, committed offsets going backwards), the
# targeted checks (a minority cannot acknowledge; a partitioned-away leader truncates its divergent
# tail; replicas identical below the high watermark) and the time to a new leader. Prints the
# figures, writes results/chaos.md and results/chaos.json. chaos/doc.go has the fault model.
# Then TestPausedCoordinatorServesNoStaleOffsets: a paused group coordinator, resumed, must not
# answer committed offsets its successor has moved past.
# Replay a run with its seed: make chaos CHAOS_SEED=123 (the report prints the full command).
# CHAOS_WRITE_MODE=direct runs the brokers with log.write.mode=direct (write-behind).
CHAOS_DURATION   ?= 3m
CHAOS_SEED       ?=
CHAOS_RATE       ?= 100
CHAOS_PARTITIONS ?= 4
CHAOS_RACE       ?= 1
CHAOS_WRITE_MODE ?=
chaos:
	cd chaos && CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_SEED=$(CHAOS_SEED) CHAOS_RATE=$(CHAOS_RATE) \
		CHAOS_PARTITIONS=$(CHAOS_PARTITIONS) CHAOS_RACE=$(CHAOS_RACE) CHAOS_WRITE_MODE=$(CHAOS_WRITE_MODE) \
		$(GO) test -tags chaos -count=1 -v -timeout 60m -run '^(TestChaos|TestPausedCoordinatorServesNoStaleOffsets)$$' .

# make bench-engine: storage engine benchmarks (figures recorded in results/engine.md).
# Append and its plain-write baseline write the same fixed byte count (30000 × 16 KiB) so that
# page-cache writeback throttling hits both alike; benchstat prints medians of the repeated runs.
BENCHSTAT ?= $(shell command -v benchstat || echo $(HOME)/go/bin/benchstat)
bench-engine:
	$(GO) test -run '^$$' -bench 'Append/batch=16KiB/fsync=none|PlainWrite' -benchtime 30000x -benchmem -count 10 ./engine/log | tee /tmp/sluice-bench-append.txt
	$(GO) test -run '^$$' -bench 'Append/batch=16KiB/fsync=every|Read|Recovery' -benchmem -count 6 ./engine/log | tee /tmp/sluice-bench-log.txt
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./engine/record | tee /tmp/sluice-bench-record.txt
	-$(BENCHSTAT) /tmp/sluice-bench-append.txt /tmp/sluice-bench-log.txt /tmp/sluice-bench-record.txt

# make fuzz: a short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./engine/record
	$(GO) test -run '^$$' -fuzz '^FuzzChecksum32C$$' -fuzztime $(FUZZTIME) ./engine/record
	$(GO) test -run '^$$' -fuzz '^FuzzCopy$$' -fuzztime $(FUZZTIME) ./internal/ntcopy
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequestHeader$$' -fuzztime $(FUZZTIME) ./netio
	$(GO) test -run '^$$' -fuzz '^FuzzServeKafka$$' -fuzztime $(FUZZTIME) ./engine/broker

# ---- Benchmarks (harness/, cmd/sluicebench; figures in results/, profiles in profiles/) ----
.PHONY: bench bench-scale profile bench-check bench-replication bench-goal

# make bench: the standard matrix — partitions {1,4,16,64} × acks {0,1,all} × sizes {100 B, 1 KiB} —
# against a `sluice serve` process, kfake with a data directory and the blackhole (the client-side
# ceiling), interleaved cell by cell, after measuring this machine's disk and loopback bandwidth.
# Prints a table; writes results/<date>-<commit>.json, results/latest.md and results/latest/*.svg.
# About five minutes on 2 cores. BENCH_FLAGS passes more, e.g. BENCH_FLAGS='-targets sluice'.
BENCH_FLAGS ?=
bench:
	$(GO) run ./cmd/sluicebench matrix -command 'make bench' $(BENCH_FLAGS)

# make bench-scale: cost as the work grows — one workload (1 KiB, acks=1, a producer and a consumer,
# 5 s) over 16, 256 and 1000 partitions; broker RSS with 1000 and 10000 idle partitions; a producer
# beside 10000 idle connections. Writes results/scale-<date>-<commit>.json and results/scale.md.
BENCH_SCALE_FLAGS ?=
bench-scale:
	$(GO) run ./cmd/sluicebench scale $(BENCH_SCALE_FLAGS)

# make profile: CPU, heap, allocs, mutex, block and goroutine profiles of a `sluice serve` process
# under PROFILE_WORKLOAD, into profiles/<workload name>/ with a `go tool pprof -top` summary.txt
# (and perf.txt, kernel stacks included, when perf is installed). profiles/README.md: how to read them.
PROFILE_WORKLOAD ?= harness/workloads/profile-16p-1kb-acks-all.yaml
PROFILE_FLAGS ?=
profile:
	$(GO) run ./cmd/sluicebench profile -workload $(PROFILE_WORKLOAD) $(PROFILE_FLAGS)

# make bench-check: engine/record, engine/log and engine/broker benchmarks (-count 5) and a short
# matrix against a `sluice serve` process, compared with BASELINE; fails on a regression beyond the
# noise measured in the repeated runs. A new baseline: make bench-check BENCH_CHECK_FLAGS='-record results/baseline.json'.
BASELINE ?= results/baseline.json
BENCH_CHECK_FLAGS ?=
bench-check:
	$(GO) run ./cmd/sluicebench check -baseline $(BASELINE) $(BENCH_CHECK_FLAGS)

# make bench-goal: issue 3's produce goal (1 KiB, acks=1, one producer, no consumer, 1 and 12
# partitions) against the client ceiling in the same round, four rounds, medians of the per-round
# ratios (results/produce-goal.md). About six minutes; BENCH_GOAL_FLAGS='-base-bin /tmp/sluice-old'
# measures another binary in the same rounds.
BENCH_GOAL_FLAGS ?=
bench-goal:
	$(GO) run ./cmd/sluicebench goal -command 'make bench-goal' $(BENCH_GOAL_FLAGS)

# make bench-replication: issue 6's RF=3 benchmark — 1 KiB records, partitions {1, 16} × acks
# {1, all} against one `sluice serve` (RF=1) and a three-process cluster (RF=3,
# min.insync.replicas=2), interleaved and repeated (medians, RF=3 ÷ RF=1 ratios), then the
# failover time: kill -9 a partition leader under an acks=all producer, five times. Writes
# results/replication.md and results/replication-<date>-<commit>.json. About five minutes.
BENCH_REPLICATION_FLAGS ?=
bench-replication:
	$(GO) run ./cmd/sluicebench replication -command 'make bench-replication' $(BENCH_REPLICATION_FLAGS)

# ---- A local 3-node cluster (issue 6) ----
.PHONY: cluster cluster-stop

# make cluster: three `sluice serve` processes on 127.0.0.1 — Kafka ports 9092–9094, controller
# (Raft) ports 19092–19094, admin HTTP 9644–9646, data in ./data/node-N, logs in
# ./data/node-N.log — with min.insync.replicas=2 and default.replication.factor=3. Their PIDs are
# in ./data/cluster.pids; `make cluster-stop` stops exactly those processes.
CLUSTER_DIR    ?= ./data
CLUSTER_VOTERS ?= 1@127.0.0.1:19092,2@127.0.0.1:19093,3@127.0.0.1:19094
cluster:
	@if [ -s $(CLUSTER_DIR)/cluster.pids ]; then echo "a cluster may be running (PIDs in $(CLUSTER_DIR)/cluster.pids): make cluster-stop first"; exit 1; fi
	mkdir -p $(CLUSTER_DIR)
	$(GO) build -o $(CLUSTER_DIR)/sluice ./cmd/sluice
	@for n in 1 2 3; do \
		$(CLUSTER_DIR)/sluice serve --node.id=$$n \
			--listeners=PLAINTEXT://127.0.0.1:$$((9091+n)),CONTROLLER://127.0.0.1:$$((19091+n)) \
			--controller.quorum.voters=$(CLUSTER_VOTERS) \
			--log.dirs=$(CLUSTER_DIR)/node-$$n --admin.listener=127.0.0.1:$$((9643+n)) \
			--min.insync.replicas=2 --default.replication.factor=3 \
			>$(CLUSTER_DIR)/node-$$n.log 2>&1 & echo $$! >>$(CLUSTER_DIR)/cluster.pids; \
	done
	@echo "3-node cluster starting: bootstrap 127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
	@echo "PIDs $$(tr '\n' ' ' <$(CLUSTER_DIR)/cluster.pids)in $(CLUSTER_DIR)/cluster.pids; logs $(CLUSTER_DIR)/node-N.log"
	@echo "stop it with: make cluster-stop"

cluster-stop:
	@if [ ! -s $(CLUSTER_DIR)/cluster.pids ]; then echo "no $(CLUSTER_DIR)/cluster.pids: nothing to stop"; exit 0; fi
	@for pid in $$(cat $(CLUSTER_DIR)/cluster.pids); do kill $$pid 2>/dev/null && echo "stopped $$pid" || echo "$$pid was not running"; done
	rm -f $(CLUSTER_DIR)/cluster.pids
