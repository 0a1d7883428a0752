package harness

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	sluiceBin string
	buildErr  error
	buildDir  string
)

// builtSluice builds cmd/sluice once per test binary, with -race when the
// tests run under it.
func builtSluice(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a broker process")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sluicebench-test-bin-")
		if buildErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			sluiceBin, buildErr = BuildSluice(ctx, buildDir, raceEnabled)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return sluiceBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// A real `sluice serve` process: started on free ports, its admin listener
// answering, its PID readable in /proc, stopped by SIGTERM with a clean
// exit, and its temporary data directory gone afterwards.
func TestProcessTargetStartStop(t *testing.T) {
	tg := &ProcessTarget{Binary: builtSluice(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addrs, err := tg.Start(ctx)
	if err != nil {
		tg.Stop()
		t.Fatal(err)
	}
	pid, dataDir := tg.PID(), tg.tempDir
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "127.0.0.1:") || pid <= 0 || dataDir == "" {
		t.Errorf("addrs %v, pid %d, data %q", addrs, pid, dataDir)
	}
	if _, err := readProc(pid); err != nil {
		t.Errorf("read /proc/%d: %v", pid, err)
	}
	resp, err := http.Get(tg.AdminURL() + "/healthz")
	if err != nil {
		t.Errorf("admin %s: %v", tg.AdminURL(), err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("/healthz: %s", resp.Status)
		}
	}
	if err := tg.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Stop (kill -0: %v)", pid, err)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("data directory %s left behind: %v", dataDir, err)
	}
	if tg.PID() != 0 {
		t.Errorf("PID %d after Stop", tg.PID())
	}
}

// A whole run against the process, consuming by direct assignment (no
// consumer group): correct, and the broker's CPU and memory reported apart
// from the harness's.
func TestRunProcessDirect(t *testing.T) {
	w := shortWorkload(t, "consumerAssignment: direct\nconsumerPerSubscription: 2\nacks: all\nproducerRate: 2000")
	res := runFor(t, w, &ProcessTarget{Binary: builtSluice(t)})
	v := res.Sluice.Correctness
	if !res.Sluice.Passed || v.Consumed != v.Acknowledged || v.Acknowledged == 0 {
		t.Fatalf("passed %v, acknowledged %d, consumed %d: %q %q", res.Sluice.Passed, v.Acknowledged, v.Consumed, v.Failures, v.Examples)
	}
	b := res.Sluice.Broker
	if b == nil || b.PID <= 0 || b.RSSBytes <= 0 || b.CPUSeconds < 0 {
		t.Errorf("broker usage %+v", b)
	}
	if res.Sluice.Settings.ConsumerAssignment != AssignDirect {
		t.Errorf("settings %+v", res.Sluice.Settings)
	}
}

// A binary that does not print the listening line fails Start with what it
// printed, and Stop still cleans up.
func TestProcessTargetBadBinary(t *testing.T) {
	tg := &ProcessTarget{Binary: "/bin/echo"}
	_, err := tg.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "expected its listening line") {
		t.Errorf("start: %v", err)
	}
	dir := tg.tempDir
	tg.Stop() // reports that echo had exited: expected
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory %s left behind", dir)
	}
}
