//go:build compat

package compat

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterControlledShutdownRealProcesses: SIGTERM to the partition leader's process moves
// the leadership at once (controlled.shutdown.enable). The session timeout is set far beyond the
// test's waits, so a new leader can only come from the controlled shutdown, never from the
// controller noticing missed heartbeats. The producer (acks=all, idempotent) carries on with no
// error; every acknowledged record is read back once, in order; the stopped node restarts and
// rejoins the ISR.
func TestClusterControlledShutdownRealProcesses(t *testing.T) {
	rc := startRealCluster(t, "--broker.session.timeout.ms=600000")
	ctx := context.Background()
	const topic = "rolling"
	adm := rc.admin()
	rc.createTopic(adm, topic)
	leaderOf := func() (int32, []int32) { return leaderOf(adm, topic) }

	prod, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RetryTimeout(60*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const total = 2000
	var (
		mu     sync.Mutex
		acked  int
		failed []error
	)
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range total {
			prod.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, err)
					return
				}
				acked++
			})
			if i%100 == 99 {
				time.Sleep(20 * time.Millisecond)
			}
		}
		prod.Flush(ctx)
	}()
	waitFor(t, 30*time.Second, "500 acknowledged records", func() bool { mu.Lock(); defer mu.Unlock(); return acked >= 500 })

	victim, _ := leaderOf()
	stopAt := time.Now()
	rc.nodes[victim-1].stop() // SIGTERM; stop fails the test unless the exit is clean
	t.Logf("node %d (the leader) stopped cleanly %v after SIGTERM", victim, time.Since(stopAt))
	waitFor(t, 30*time.Second, "a new leader without a session timeout", func() bool {
		l, isr := leaderOf()
		return l > 0 && l != victim && len(isr) == 2
	})
	t.Logf("new leader %v after SIGTERM", time.Since(stopAt))
	select {
	case <-produced:
	case <-time.After(60 * time.Second):
		t.Fatal("producer stuck after the controlled shutdown")
	}
	mu.Lock()
	if len(failed) > 0 || acked != total {
		t.Fatalf("%d acknowledged of %d, %d failed (first: %v)", acked, total, len(failed), firstErr(failed))
	}
	mu.Unlock()

	cons, err := kgo.NewClient(kgo.SeedBrokers(rc.seeds()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	next := 0
	for next < total && cctx.Err() == nil {
		cons.PollFetches(cctx).EachRecord(func(r *kgo.Record) {
			if string(r.Value) != strconv.Itoa(next) {
				t.Fatalf("record %d: %q (offset %d)", next, r.Value, r.Offset)
			}
			next++
		})
	}
	if next != total {
		t.Fatalf("read %d of %d records", next, total)
	}

	rc.start(victim)
	waitFor(t, 30*time.Second, "the stopped node back in the ISR", func() bool {
		_, isr := leaderOf()
		return len(isr) == 3
	})
	// A rolling stop of the whole cluster, each within stop's limit although the session timeout
	// is far longer: the last broker has no one to hand over to and does not wait for a quorum.
	for _, n := range rc.nodes {
		n.stop()
	}
}

func firstErr(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
