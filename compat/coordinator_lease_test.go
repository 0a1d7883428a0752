//go:build compat

package compat

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterCoordinatorNeedsController: a broker that has not heard from the controller within
// broker.session.timeout.ms may have been fenced and its groups moved, so it does not name a
// group coordinator from its stale image: FindCoordinator answers COORDINATOR_NOT_AVAILABLE
// (15) until the controller answers again (the coordinator lease). Three real processes; the
// other two are paused (SIGSTOP), so no controller quorum is left.
func TestClusterCoordinatorNeedsController(t *testing.T) {
	rc := startRealCluster(t)
	rc.adminWhenUp()
	cl, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	findAtNode1 := func() (int16, string) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey = "lease-group"                 // v0–v3
		req.CoordinatorKeys = []string{req.CoordinatorKey} // v4+, what kgo sends here
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl.Broker(1))
		if err != nil {
			return -1, err.Error()
		}
		code, msg := resp.ErrorCode, resp.ErrorMessage
		if len(resp.Coordinators) == 1 {
			code, msg = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].ErrorMessage
		} else if resp.Version >= 4 {
			return -1, "no coordinator in a v4+ answer"
		}
		if msg == nil {
			return code, ""
		}
		return code, *msg
	}
	waitFor(t, 60*time.Second, "a coordinator named by node 1", func() bool {
		code, _ := findAtNode1()
		return code == 0
	})

	paused := rc.nodes[1:]
	for _, b := range paused {
		if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	resume := func() {
		for _, b := range paused {
			if b.cmd != nil {
				b.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
	}
	defer resume() // before the processes are stopped
	var msg string
	var code int16
	deadline := time.Now().Add(20 * time.Second)
	for code, msg = findAtNode1(); code != 15; code, msg = findAtNode1() {
		if time.Now().After(deadline) {
			t.Fatalf("node 1 with no controller for 20 s: FindCoordinator error %d (%s), want COORDINATOR_NOT_AVAILABLE (15)", code, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("node 1 without a controller: %s", msg)

	resume()
	waitFor(t, 60*time.Second, "a coordinator named by node 1 once the controller answers again", func() bool {
		code, _ := findAtNode1()
		return code == 0
	})
}
