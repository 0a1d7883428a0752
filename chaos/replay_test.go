//go:build chaos

package chaos

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// TestReplayRestartedLeader replays, on a small scale, the faults under which `make chaos
// CHAOS_SEED=7` lost acknowledged writes: idempotent acks=all producers run while the active
// controller (a partition leader) is restarted cleanly, then has every inbound link black-holed
// until it fences the others, is healed, and is killed 2.6 s later and restarted. A restarted
// broker served producers' retries before its assignments were replayed, as if it were a single
// node: it acknowledged them alone and truncated them once it followed (fixed in
// engine/broker/00_produce.go). The checker must find nothing lost. Run it with
// `go test -tags chaos -run TestReplayRestartedLeader ./chaos`; it takes about a minute.
func TestReplayRestartedLeader(t *testing.T) {
	dir, err := os.MkdirTemp("", "sluice-replay-")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildSluice(t, dir, false)
	ctx := context.Background()
	cfg := Config{Binary: bin, Dir: dir, LogLevel: os.Getenv("CHAOS_LOG_LEVEL"), Logf: t.Logf}
	c, err := startAndSettle(ctx, cfg, dir+"/replay", 0, map[string]int32{topicIdempotent: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tl := &topicLog{topic: topicIdempotent, partitions: 4, idempotent: true}
	var ps []*producer
	for i := range 2 {
		p, err := newProducer(c.Seeds(), tl, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		defer p.cl.Close()
		ps = append(ps, p)
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.run(pctx, 100) })
	}
	time.Sleep(3 * time.Second)

	ctrl := c.View(ctx, topicIdempotent).Controller
	t.Logf("clean restart of the controller, node %d", ctrl)
	if err := c.Node(ctrl).Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(7 * time.Second)
	if err := c.Node(ctrl).Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(ctx, recoveryWait, func() bool { return c.View(ctx, topicIdempotent).FullISR(4) }); err != nil {
		t.Fatalf("full ISR after the restart: %v", err)
	}
	time.Sleep(5 * time.Second)

	v := c.View(ctx, topicIdempotent)
	ctrl = v.Controller
	n := c.Node(ctrl)
	t.Logf("black-holing every link into the controller, node %d, which leads %v", ctrl, v.LedBy(ctrl))
	if err := n.Cut(CutBlackhole); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second)
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2600 * time.Millisecond)
	t.Logf("kill -9 node %d", ctrl)
	n.Kill()
	time.Sleep(8 * time.Second)
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(ctx, recoveryWait, func() bool { return c.View(ctx, topicIdempotent).FullISR(4) }); err != nil {
		t.Errorf("full ISR after the kill: %v", err)
	}
	stop()
	wg.Wait()

	r := &Report{}
	finishTopic(ctx, c, r, tl, ps)
	verdict := r.Topics[0].Verdict
	t.Logf("sent %d, acknowledged %d, lost %d, inconsistent offsets %d", verdict.Sent, verdict.Acknowledged, verdict.Lost, verdict.InconsistentOffsets)
	for _, f := range r.Failures {
		t.Error(f)
	}
	if verdict.Acknowledged == 0 {
		t.Error("nothing acknowledged: the replay exercised nothing")
	}
	if t.Failed() {
		t.Logf("broker logs kept under %s", dir)
		return
	}
	os.RemoveAll(dir)
}
