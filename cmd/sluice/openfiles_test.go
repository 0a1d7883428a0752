package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestOpenFilesLow(t *testing.T) {
	for _, tc := range []struct {
		soft  uint64
		inUse int
		low   bool
	}{
		{soft: 1024, inUse: 10, low: true},
		{soft: 20000, inUse: -1, low: true},
		{soft: 65535, inUse: 10, low: true},
		{soft: 65536, inUse: 10, low: false},
		{soft: 65536, inUse: -1, low: false},
		{soft: 1 << 20, inUse: 400000, low: false},
		{soft: 1 << 20, inUse: 600000, low: true}, // the logs opened hold over half of it
	} {
		if got := openFilesLow(tc.soft, tc.inUse); got != tc.low {
			t.Errorf("openFilesLow(%d, %d) = %v, want %v", tc.soft, tc.inUse, got, tc.low)
		}
	}
}

func TestCheckOpenFiles(t *testing.T) {
	logged := func(lim openFileLimit, inUse int) string {
		var buf bytes.Buffer
		checkOpenFiles(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), lim, inUse)
		return buf.String()
	}
	out := logged(openFileLimit{soft: 20000, hard: 20000, softBefore: 19999}, 42)
	for _, want := range []string{"level=WARN", "open-file limit is low", "soft=20000", "hard=20000", "in_use=42", "recommended=65536", "raised_from=19999"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	if out := logged(openFileLimit{soft: 1 << 20, hard: 1 << 20, softBefore: 1 << 20}, 42); out != "" {
		t.Errorf("a high limit logged at info level: %s", out)
	}
	out = logged(openFileLimit{soft: 4096, hard: 1 << 30, softBefore: 4096, err: errors.New("operation not permitted")}, 42)
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `raise_err="operation not permitted"`) {
		t.Errorf("a failed raise: %s", out)
	}
	if out := logged(openFileLimit{err: errors.New("no rlimit")}, -1); !strings.Contains(out, "cannot read the open-file limit") {
		t.Errorf("an unreadable limit: %s", out)
	}
}

// raiseOpenFileLimit leaves the soft limit at the hard one (or says why not).
func TestRaiseOpenFileLimit(t *testing.T) {
	lim := raiseOpenFileLimit()
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur != lim.soft || r.Max != lim.hard {
		t.Errorf("reported soft %d hard %d, in force %d %d", lim.soft, lim.hard, r.Cur, r.Max)
	}
	if lim.err == nil && r.Cur != r.Max {
		t.Errorf("soft limit %d left below the hard limit %d without an error", r.Cur, r.Max)
	}
	t.Logf("RLIMIT_NOFILE: soft %d (was %d) hard %d", lim.soft, lim.softBefore, lim.hard)
	if n := openFilesInUse(); n < 3 {
		t.Errorf("open files in use: %d", n)
	}
}

// TestServeZeroSetup runs `sluice serve` with no arguments, as a developer's first try: it
// creates ./data, auto-creates the topic a client produces to, says where it listens and warns
// about a low open-file limit. Only the ports come from the environment (SLUICE_LISTENERS,
// SLUICE_ADMIN_LISTENER), so the test cannot collide with a broker on 9092.
func TestServeZeroSetup(t *testing.T) {
	bin := buildSluice(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(environWithout(envPrefix), "SLUICE_LISTENERS=PLAINTEXT://127.0.0.1:0", "SLUICE_ADMIN_LISTENER=127.0.0.1:0")
	p := startSluiceCmd(t, cmd)
	if m := listeningLine.FindStringSubmatch(p.listening); m == nil || m[3] != "./data" {
		t.Errorf("listening line %q, want data ./data", p.listening)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data")); err != nil || !fi.IsDir() {
		t.Fatalf("data directory not created: %v", err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "first-try", Value: []byte("hello")}).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatalf("produce to an auto-created topic: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "first-try-0")); err != nil {
		t.Errorf("auto-created topic's partition directory: %v", err)
	}
	p.stop(t)

	logs := p.stderr.String()
	if !strings.Contains(logs, "creating the data directory (first start)") {
		t.Errorf("no first-start line in the log:\n%s", logs)
	}
	// The child inherits the hard limit and raises its soft limit to it.
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	warned := strings.Contains(logs, "open-file limit is low")
	if r.Max < openFilesRecommended {
		if !warned || !strings.Contains(logs, fmt.Sprintf("soft=%d hard=%d", r.Max, r.Max)) {
			t.Errorf("hard limit %d: want a warning with soft=hard=%d:\n%s", r.Max, r.Max, logs)
		}
	} else if warned {
		t.Errorf("hard limit %d: unexpected warning:\n%s", r.Max, logs)
	}
}

// environWithout is the process's environment without the variables starting with prefix.
func environWithout(prefix string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}
