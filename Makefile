# Sluice — every developer and CI entry point. `.ci/run` and .github/workflows call these targets.
GO        ?= go
PKGS      ?= ./...
# -race multiplies CPU cost; 2-core CI machines need a generous but finite timeout.
TEST_TIMEOUT ?= 20m

.PHONY: run test compat vet fmt-check build bench-engine fuzz

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
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequestHeader$$' -fuzztime $(FUZZTIME) ./netio
	$(GO) test -run '^$$' -fuzz '^FuzzServeKafka$$' -fuzztime $(FUZZTIME) ./engine/broker
