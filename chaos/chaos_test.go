//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envOr reads a setting of `make chaos` from the environment.
func envOr(t *testing.T, key, def string) string {
	t.Helper()
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestChaos is `make chaos`: the targeted checks and a seeded nemesis against three `sluice serve`
// processes behind proxies; it prints the figures, writes results/chaos.{md,json} and fails on any
// broken promise (doc.go). Settings: CHAOS_DURATION (nemesis time, default 3m), CHAOS_SEED
// (default: the clock), CHAOS_RATE (records a second per producer, 100), CHAOS_PARTITIONS (of the
// idempotent topic, 4), CHAOS_RACE (build the broker with -race, 1), CHAOS_RESULTS (directory of
// the report, ../results), CHAOS_LOG_LEVEL (the brokers' log.level, warn).
func TestChaos(t *testing.T) {
	duration, err := time.ParseDuration(envOr(t, "CHAOS_DURATION", "3m"))
	if err != nil {
		t.Fatalf("CHAOS_DURATION: %v", err)
	}
	seed, err := strconv.ParseUint(envOr(t, "CHAOS_SEED", strconv.FormatInt(time.Now().UnixNano()%1e9, 10)), 10, 64)
	if err != nil {
		t.Fatalf("CHAOS_SEED: %v", err)
	}
	rate, err1 := strconv.Atoi(envOr(t, "CHAOS_RATE", "100"))
	partitions, err2 := strconv.Atoi(envOr(t, "CHAOS_PARTITIONS", "4"))
	if err1 != nil || err2 != nil || rate < 1 || partitions < 1 {
		t.Fatalf("CHAOS_RATE %v / CHAOS_PARTITIONS %v: want positive integers", err1, err2)
	}
	race := envOr(t, "CHAOS_RACE", "1") == "1"
	results := envOr(t, "CHAOS_RESULTS", "../results")

	dir, err := os.MkdirTemp("", "sluice-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildSluice(t, dir, race)
	writeMode := os.Getenv("CHAOS_WRITE_MODE")
	if writeMode != "" && writeMode != "buffered" && writeMode != "direct" {
		t.Fatalf("CHAOS_WRITE_MODE %q: want buffered or direct", writeMode)
	}
	command := fmt.Sprintf("make chaos CHAOS_SEED=%d CHAOS_DURATION=%s CHAOS_RATE=%d CHAOS_PARTITIONS=%d CHAOS_RACE=%s",
		seed, duration, rate, partitions, map[bool]string{true: "1", false: "0"}[race])
	if writeMode != "" {
		command += " CHAOS_WRITE_MODE=" + writeMode
	}
	t.Logf("seed %d, nemesis for %v, data and broker logs in %s; reproduce with: %s", seed, duration, dir, command)

	ctx, cancel := context.WithTimeout(context.Background(), duration+20*time.Minute)
	defer cancel()
	r, err := Run(ctx, Config{Binary: bin, Dir: dir, Seed: seed, Duration: duration, Rate: rate,
		Partitions: int32(partitions), RaceBuild: race, LogLevel: os.Getenv("CHAOS_LOG_LEVEL"), WriteMode: writeMode, Commit: gitCommit(), Command: command, Logf: t.Logf})
	if r != nil {
		fmt.Printf("\nchaos seed %d:\n%s", seed, r.Table())
		if results != "" {
			if werr := r.Write(results); werr != nil {
				t.Errorf("writing the report: %v", werr)
			} else {
				t.Logf("report: %s/chaos.md and chaos.json", results)
			}
		}
	}
	if err != nil {
		t.Fatalf("%v (broker logs under %s)", err, dir)
	}
	for _, f := range r.Failures {
		t.Errorf("%s", f)
	}
	if t.Failed() {
		t.Logf("broker logs kept under %s", dir)
		return
	}
	os.RemoveAll(dir)
}

// gitCommit names the tree under test: the short commit, with -dirty when files differ from it.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "-dirty"
	}
	return c
}

// buildSluice builds ../cmd/sluice into dir (with the race detector if race) and returns the
// binary's path.
func buildSluice(t *testing.T, dir string, race bool) string {
	t.Helper()
	bin := filepath.Join(dir, "sluice")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "../cmd/sluice")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
