# Sluice — every developer and CI entry point. `.ci/run` and .github/workflows call these targets.
GO        ?= go
PKGS      ?= ./...
# -race multiplies CPU cost; 2-core CI machines need a generous but finite timeout.
TEST_TIMEOUT ?= 20m

.PHONY: test vet fmt-check build bench-engine fuzz

build:
	$(GO) build $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# make test: vet, then every test under the race detector.
test: fmt-check vet
	$(GO) test -race -timeout $(TEST_TIMEOUT) -count=1 $(PKGS)

# make bench-engine: storage engine benchmarks (figures recorded in results/engine.md).
bench-engine:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./engine/...

# make fuzz: a short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./engine/record
