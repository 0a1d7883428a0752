package chaos

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Nemesis workload: two idempotent producers and one at-least-once producer, two members of a
// consumer group on the idempotent topic.
const (
	idempotentProducers = 2
	plainProducers      = 1
	plainPartitions     = 2
	groupMembers        = 2
	stepsPlanned        = 1000 // more than any duration uses; the schedule is drawn up front
)

// runNemesis runs the workload on a fresh cluster while the schedule's faults run one at a time
// for cfg.Duration, heals everything, then checks what was written and that replicas agree.
func runNemesis(ctx context.Context, cfg Config, r *Report) error {
	topics := map[string]int32{topicIdempotent: cfg.Partitions, topicPlain: plainPartitions}
	total := int(cfg.Partitions) + plainPartitions
	names := []string{topicIdempotent, topicPlain}
	c, err := startAndSettle(ctx, cfg, cfg.Dir+"/nemesis", 0, topics)
	if err != nil {
		return err
	}
	defer c.Close()

	idem := &topicLog{topic: topicIdempotent, partitions: cfg.Partitions, idempotent: true}
	plain := &topicLog{topic: topicPlain, partitions: plainPartitions}
	var idemPs, plainPs []*producer
	defer func() {
		for _, p := range slices.Concat(idemPs, plainPs) {
			p.cl.Close()
		}
	}()
	for i := range idempotentProducers {
		p, err := newProducer(c.Seeds(), idem, uint32(i))
		if err != nil {
			return err
		}
		idemPs = append(idemPs, p)
	}
	for i := range plainProducers {
		p, err := newProducer(c.Seeds(), plain, uint32(i))
		if err != nil {
			return err
		}
		plainPs = append(plainPs, p)
	}
	var members []*groupConsumer
	for range groupMembers {
		g, err := newGroupConsumer(c.Seeds(), idem, groupName)
		if err != nil {
			return err
		}
		members = append(members, g)
	}
	acked := func() (n uint64) {
		for _, p := range slices.Concat(idemPs, plainPs) {
			n += p.acked.Load()
		}
		return n
	}

	wctx, stopWorkload := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range slices.Concat(idemPs, plainPs) {
		wg.Go(func() { p.run(wctx, cfg.Rate) })
	}
	for _, g := range members {
		wg.Go(func() { g.run(wctx) })
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopWorkload()
			wg.Wait()
			for _, g := range members {
				g.cl.Close()
			}
			stopped = true
		}
	}
	defer stop()
	if err := waitUntil(ctx, clusterWait, func() bool { return acked() >= uint64(cfg.Rate) }); err != nil {
		return fmt.Errorf("first acknowledgements: %w", err)
	}

	// The partitions a step's LeaderOf indexes, in a fixed order.
	var order []TP
	for _, t := range names {
		for p := range topics[t] {
			order = append(order, TP{t, p})
		}
	}
	var newLeader, recovery []int64
	begin := time.Now()
	for _, step := range Schedule(cfg.Seed, stepsPlanned, total) {
		if time.Since(begin) >= cfg.Duration || ctx.Err() != nil {
			break
		}
		e := runStep(ctx, c, r, step, order, names, begin, acked)
		r.Events = append(r.Events, e)
		cfg.Logf("%5.1fs %s: victim %d, led %d, new leader %s, full ISR %s after heal, acked %d → %d %s",
			float64(e.AtMs)/1000, step, e.Victim, len(e.Led), msOrDash(e.NewLeaderMs), msOrDash(e.RecoveryMs), e.Acked[0], e.Acked[1], e.Note)
		if e.NewLeaderMs >= 0 {
			newLeader = append(newLeader, e.NewLeaderMs)
		}
		if e.RecoveryMs >= 0 {
			recovery = append(recovery, e.RecoveryMs)
		} else {
			r.NotRecovered++
		}
		if len(e.Led) > 0 && e.NewLeaderMs < 0 && step.Kind != FaultCut {
			r.NoNewLeader++
		}
		time.Sleep(time.Duration(step.QuietMs) * time.Millisecond)
	}
	r.NewLeaderMs, r.RecoveryMs = figures(newLeader), figures(recovery)
	if r.NotRecovered > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d heals after which the ISRs were not full within %v", r.NotRecovered, recoveryWait))
	}
	if r.NoNewLeader > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d faults (kill, pause, restart) of a leader with no new leader within the hold", r.NoNewLeader))
	}

	// Everything is healed after each step; the producers stop sending and must resolve every
	// record, then a fresh consumer reads each topic in full.
	if err := waitUntil(ctx, recoveryWait, func() bool { return c.View(ctx, names...).FullISR(total) }); err != nil {
		r.Failures = append(r.Failures, fmt.Sprintf("the healed cluster has no full ISR everywhere within %v", recoveryWait))
	}
	stop()
	finishTopic(ctx, c, r, idem, idemPs)
	finishTopic(ctx, c, r, plain, plainPs)
	convergence(ctx, c, r, names, total)
	return nil
}

// runStep injects one fault, measures the time to a new leader while it holds, heals it and
// measures the time to a full ISR again.
func runStep(ctx context.Context, c *Cluster, r *Report, step Step, order []TP, topics []string, begin time.Time, acked func() uint64) Event {
	e := Event{Step: step, AtMs: time.Since(begin).Milliseconds(), NewLeaderMs: -1, RecoveryMs: -1}
	v := c.View(ctx, topics...)
	e.Victim = step.Node
	if step.LeaderOf >= 0 {
		e.Victim = v.Partitions[order[step.LeaderOf%len(order)]].Leader
		if e.Victim < 1 || e.Victim > nodes {
			e.Victim = 1 + int32(step.LeaderOf%nodes)
			e.Note = "the partition had no leader; a node instead"
		}
	}
	n := c.Node(e.Victim)
	e.Led = v.LedBy(e.Victim)
	e.Acked[0] = acked()
	injected := time.Now()
	switch step.Kind {
	case FaultKill:
		n.Kill()
	case FaultPause:
		n.Pause()
	case FaultCut:
		if err := n.Cut(step.CutMode); err != nil {
			e.Note = err.Error()
		}
	case FaultRestart:
		if err := n.Stop(); err != nil {
			r.Failures = append(r.Failures, err.Error())
		}
	}
	hold := time.Duration(step.HoldMs) * time.Millisecond
	for time.Since(injected) < hold && ctx.Err() == nil {
		if len(e.Led) > 0 && e.NewLeaderMs < 0 && movedAway(c.View(ctx, topics...), e.Led, e.Victim) {
			e.NewLeaderMs = time.Since(injected).Milliseconds()
		}
		checkCrashes(c, r, e.Victim)
		time.Sleep(pollEvery)
	}
	if step.Kind == FaultCut && len(e.Led) > 0 && e.NewLeaderMs < 0 {
		e.Note = "leaders stayed: the victim still reaches the quorum (asymmetric cut)"
	}

	switch step.Kind {
	case FaultKill, FaultRestart:
		if err := n.Start(); err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("restarting node %d: %v", e.Victim, err))
		}
	case FaultPause:
		n.Resume()
	case FaultCut:
		if err := n.Heal(); err != nil {
			r.Failures = append(r.Failures, err.Error())
		}
	}
	e.Acked[1] = acked()
	healed := time.Now()
	total := len(order)
	if waitUntil(ctx, recoveryWait, func() bool {
		checkCrashes(c, r, 0)
		return c.View(ctx, topics...).FullISR(total)
	}) == nil {
		e.RecoveryMs = time.Since(healed).Milliseconds()
	}
	return e
}

// movedAway reports whether every partition in led has a leader other than victim.
func movedAway(v View, led []TP, victim int32) bool {
	for _, tp := range led {
		if l := v.Partitions[tp].Leader; l < 0 || l == victim {
			return false
		}
	}
	return true
}

// checkCrashes restarts any node that exited without being told to (a crash: a failure),
// except skip, the current victim whose exit may be the fault itself.
func checkCrashes(c *Cluster, r *Report, skip int32) {
	for _, n := range c.Nodes {
		if n.ID == skip {
			continue
		}
		if exited, err := n.Exited(); exited {
			r.Failures = append(r.Failures, fmt.Sprintf("node %d exited on its own (%v); log tail:\n%s", n.ID, err, n.LogTail(20)))
			if err := n.Start(); err != nil {
				r.Failures = append(r.Failures, fmt.Sprintf("restarting crashed node %d: %v", n.ID, err))
			}
		}
	}
}
