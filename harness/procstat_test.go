package harness

import (
	"os"
	"testing"
	"time"
)

func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatalf("no /proc/self/stat: the harness reads broker CPU and RSS from /proc (Linux only): %v", err)
	}
	before, err := readProc(0)
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so the second reading must not go backwards.
	for end := time.Now().Add(30 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.cpu < before.cpu || after.rssBytes <= 0 || after.peakRSSBytes < after.rssBytes {
		t.Errorf("before %+v after %+v", before, after)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
