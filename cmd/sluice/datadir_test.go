package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the lock
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "is in use by another sluice serve") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock()
}

// A second serve on a data directory in use fails before opening the broker; the first keeps
// serving.
func TestServeDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=", "--log.dirs=" + dir}
	first := startServe(t, args, nil)
	select {
	case <-first.lines:
	case <-time.After(testTimeout):
		t.Fatal("no listening line")
	}
	second := startServe(t, args, nil)
	lines, err := second.wait(t)
	if err == nil || !strings.Contains(err.Error(), "log.dirs "+dir+" is in use by another sluice serve") || len(lines) != 0 {
		t.Fatalf("second serve: %v, stdout %q", err, lines)
	}
	if second.fake.closedCount() != 0 || second.fake.cfg.LogDir != "" {
		t.Error("the second serve opened its broker")
	}
	first.cancel()
	if _, err := first.wait(t); err != nil {
		t.Fatalf("first serve: %v", err)
	}
}
