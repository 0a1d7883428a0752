package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/replica"
)

// lostAnswerChanger commits the first ISR expansion it sees in the test cluster's state but
// loses the answer (the leader sees a timeout) and holds back the new state from the brokers, as
// a controller whose reply and image are delayed would.
type lostAnswerChanger struct {
	c *testCluster

	mu      sync.Mutex
	lost    bool
	held    PartitionState
	retries int
}

func (l *lostAnswerChanger) ChangeISR(ctx context.Context, ch replica.ISRChange) error {
	c := l.c
	k := tpKey{ch.Topic, ch.Partition}
	c.mu.Lock()
	expansion := len(ch.ISR) > len(c.states[k].ISR)
	c.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lost:
		l.retries++
		return fmt.Errorf("stale ISR change %+v", ch) // the change already committed
	case !expansion:
		return c.ChangeISR(ctx, ch)
	}
	c.mu.Lock()
	ps := c.states[k]
	ps.ISR, ps.PartitionEpoch = slices.Clone(ch.ISR), ps.PartitionEpoch+1
	c.states[k] = ps
	c.mu.Unlock()
	l.lost, l.held = true, ps
	return context.DeadlineExceeded
}

// An ISR expansion whose answer is lost may have committed: the leader keeps it pending (its HW
// keeps counting the joining follower) and proposes it again, rather than forgetting it and
// letting the HW pass a member the controller already counts as in sync — until the image that
// settles it arrives. Forgetting it at once is what this test fails on.
func TestISRChangeUnknownOutcomeKeepsPending(t *testing.T) {
	c := startCluster(t, 3)
	const topic = "lost-answer"
	c.createRF3(topic, map[string]string{"min.insync.replicas": "1"})
	c.stop(2)
	// A follower leaves the ISR once it has been behind for replica.lag.time.max.ms: write.
	if p := rawProduce(t, c.node(0).addr, topic, 0, 1, 5000, "a", "b"); p.ErrorCode != 0 {
		t.Fatalf("produce: error %d", p.ErrorCode)
	}
	c.waitISR(topic, 0, 0, 0, 1)

	lossy := &lostAnswerChanger{c: c}
	c.node(0).b.SetISRChanger(lossy)
	c.start(2)
	eventually(t, "the expansion's answer lost", func() error {
		lossy.mu.Lock()
		defer lossy.mu.Unlock()
		if !lossy.lost {
			return errors.New("no expansion proposed yet")
		}
		return nil
	})
	pendingHas2 := func() error {
		st, ok := c.node(0).b.ReplicaStatus(topic, 0)
		if !ok || !slices.Contains(st.PendingISR, 2) || slices.Contains(st.ISR, 2) {
			return fmt.Errorf("ISR %v pending %v", st.ISR, st.PendingISR)
		}
		return nil
	}
	if err := pendingHas2(); err != nil {
		t.Fatalf("right after the lost answer: %v; want broker 2 pending", err)
	}
	eventually(t, "the same change proposed again", func() error {
		lossy.mu.Lock()
		defer lossy.mu.Unlock()
		if lossy.retries < 2 {
			return fmt.Errorf("%d retries", lossy.retries)
		}
		return nil
	})
	if err := pendingHas2(); err != nil {
		t.Fatalf("after retries: %v; the pending expansion must stay until the image settles it", err)
	}

	// The image arrives: the ISR holds broker 2 and nothing is pending any more.
	lossy.mu.Lock()
	held := lossy.held
	lossy.mu.Unlock()
	c.mu.Lock()
	live := c.liveLocked()
	c.mu.Unlock()
	c.apply(live, held)
	c.waitISR(topic, 0, 0, 0, 1, 2)
	eventually(t, "nothing pending", func() error {
		st, _ := c.node(0).b.ReplicaStatus(topic, 0)
		if st.PendingISR != nil {
			return fmt.Errorf("pending %v", st.PendingISR)
		}
		return nil
	})
	time.Sleep(3 * isrChangeRetryBackoff) // a retry loop still running would call again
	lossy.mu.Lock()
	n := lossy.retries
	lossy.mu.Unlock()
	time.Sleep(3 * isrChangeRetryBackoff)
	lossy.mu.Lock()
	defer lossy.mu.Unlock()
	if lossy.retries != n {
		t.Fatalf("still proposing after the image settled it: %d → %d retries", n, lossy.retries)
	}
}

// Which ChangeISR errors may drop a pending change at once, and which may not.
func TestISRChangeOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, isrChangeDone},
		{fmt.Errorf("meta: proposal rejected: %w", meta.ErrIneligibleReplica), isrChangeRefused},
		{fmt.Errorf("meta: proposal rejected: %w", meta.ErrFencedLeaderEpoch), isrChangeRefused},
		{&kafkaCodeError{code: errIneligibleReplica}, isrChangeRefused},
		{fmt.Errorf("meta: proposal rejected: %w", meta.ErrStalePartitionEpoch), isrChangeSuperseded},
		{&kafkaCodeError{code: errInvalidUpdateVersion}, isrChangeSuperseded},
		{context.DeadlineExceeded, isrChangeUnknown},
		{&meta.NotControllerError{LeaderID: -1, MaybeCommitted: true}, isrChangeUnknown},
		{&kafkaCodeError{code: errRequestTimedOut}, isrChangeUnknown},
		{errors.New("connection reset"), isrChangeUnknown},
	} {
		if got := isrChangeOutcome(tc.err); got != tc.want {
			t.Errorf("isrChangeOutcome(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
