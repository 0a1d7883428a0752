package broker

// The Raft controller wired into the broker (ControllerLink): registration and heartbeats, the
// active controller's fencing loop, the image watcher that makes this broker leader or follower
// of each partition, ISR changes as ChangeISR records, CreateTopics through placement, and
// Metadata from the image.
//
// A request the active controller must decide (registration, heartbeat, ChangeISR, CreateTopic,
// CreatePartitions, producer-id blocks, and the admin operations of controller_ops.go) is run on
// the active node's ControllerLink when ControllerLinkConfig.Route finds it in this process
// (every node of an in-process test cluster holds a Controller, so Route maps a node id to that
// node's link); otherwise it is forwarded over the network to the active node's Kafka listener
// (controller_rpc.go).

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/replica"
)

// Kafka's defaults of broker.session.timeout.ms and broker.heartbeat.interval.ms.
const (
	DefaultBrokerSessionTimeoutMs    = 9000
	DefaultBrokerHeartbeatIntervalMs = 2000
)

// ControllerLinkConfig configures AttachController.
type ControllerLinkConfig struct {
	Controller *meta.Controller
	// Listener is the listener name whose endpoint clients and followers use ("PLAINTEXT").
	Listener string
	Host     string // this broker's advertised host and port on Listener
	Port     int32
	Rack     string
	// SessionTimeoutMs is broker.session.timeout.ms; HeartbeatIntervalMs broker.heartbeat.interval.ms.
	SessionTimeoutMs    int64
	HeartbeatIntervalMs int64
	Policy              meta.Policy
	// Route returns the link of node id, the active controller, when it is in this process; nil
	// otherwise, and then the request is forwarded over the network (controller_rpc.go).
	Route func(id int32) *ControllerLink
	// LeaderImbalanceCheckIntervalMs, when above 0, makes the active controller move leadership
	// back to preferred replicas that can lead at this interval (auto.leader.rebalance.enable with
	// leader.imbalance.check.interval.seconds; as KRaft's controller, every imbalanced partition,
	// without leader.imbalance.per.broker.percentage). 0: never.
	LeaderImbalanceCheckIntervalMs int64
}

// ControllerLink connects one broker to its node's meta.Controller.
type ControllerLink struct {
	b           *Broker
	c           *meta.Controller
	cfg         ControllerLinkConfig
	incarnation [16]byte

	epoch   atomic.Int64               // this broker's registered epoch; 0 until registered
	image   atomic.Pointer[meta.Image] // the last image applied to the broker
	applied atomic.Pointer[chan struct{}]
	states  map[tpKeyMeta]PartitionState // watch loop only: what SetPartitionState last accepted
	// topicIDs is every topic this link has applied, by name (watch loop only). Only these are
	// deleted when the image loses them: an image seen while the Raft log replays at start may
	// not hold a topic yet, and must not delete this broker's copy of it.
	topicIDs map[string][16]byte
	// reconciled: controlled topics deleted while this broker was down have been removed (once,
	// as soon as an image holds this process's registration; watch loop only).
	reconciled bool

	liveMu sync.Mutex
	live   *meta.Liveness // while this node is the active controller
	// caughtUpAt is, while this node is the active controller, the image offset each broker must
	// have applied before its heartbeats say it is caught up (caughtUpFloor for every broker: the
	// offset at which this node became active; per broker, the offset that unfenced it).
	caughtUpAt    map[int32]uint64
	caughtUpFloor uint64
	// leaving holds the brokers in controlled shutdown (id → broker epoch) while this node is the
	// active controller: their ordinary heartbeats no longer unfence them.
	leaving map[int32]int64

	// shuttingDown, set under hbMu, ends brokerLoop's ordinary heartbeats (ControlledShutdown
	// sends its own): it cancels the one in flight (hbCancel) and waits for it (hbInflight), so
	// none can unfence the broker after its controlled shutdown fenced it.
	hbMu         sync.Mutex
	shuttingDown bool
	hbCancel     context.CancelFunc
	hbInflight   sync.WaitGroup

	// lease: when (time since born, +1; 0 for never) this broker sent the last heartbeat the
	// controller answered as caught up. See current.
	born  time.Time
	lease atomic.Int64

	pids producerIDBlocks

	offsets *offsetsReplication // replicated consumer offsets (offsets_topic.go)

	// Topic auto-creations in flight (controller_ops.go), by name; none start once closed.
	autoMu       sync.Mutex
	autoCreating map[string]bool
	autoClosed   bool
	autoWG       sync.WaitGroup

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type tpKeyMeta struct {
	topic     string
	partition int32
}

// AttachController starts this broker's controller link. The broker must be in Cluster mode.
// Close the link (Broker.Close does) before closing the controller.
func (b *Broker) AttachController(cfg ControllerLinkConfig) (*ControllerLink, error) {
	if !b.cfg.Cluster {
		return nil, errors.New("controller link: the broker is not in cluster mode")
	}
	if cfg.Controller == nil {
		return nil, errors.New("controller link: no controller")
	}
	if cfg.Listener == "" {
		cfg.Listener = "PLAINTEXT"
	}
	if cfg.SessionTimeoutMs <= 0 {
		cfg.SessionTimeoutMs = DefaultBrokerSessionTimeoutMs
	}
	if cfg.HeartbeatIntervalMs <= 0 {
		cfg.HeartbeatIntervalMs = DefaultBrokerHeartbeatIntervalMs
	}
	l := &ControllerLink{b: b, c: cfg.Controller, cfg: cfg, states: map[tpKeyMeta]PartitionState{},
		topicIDs: map[string][16]byte{}, autoCreating: map[string]bool{}, stop: make(chan struct{}), born: time.Now()}
	rand.Read(l.incarnation[:])
	ch := make(chan struct{})
	l.applied.Store(&ch)
	l.image.Store(meta.Empty)
	l.offsets = newOffsetsReplication(b)
	if !b.link.CompareAndSwap(nil, l) {
		return nil, errors.New("controller link: already attached")
	}
	l.startOffsets()
	b.SetISRChanger(l)
	l.wg.Add(3)
	go l.watchLoop()
	go l.brokerLoop()
	go l.activeLoop()
	return l, nil
}

// Close stops the link's loops. Idempotent.
func (l *ControllerLink) Close() {
	l.closeOnce.Do(func() {
		l.autoMu.Lock()
		l.autoClosed = true
		l.autoMu.Unlock()
		close(l.stop)
		l.wg.Wait()
		l.autoWG.Wait()
	})
}

// Image is the last metadata image applied to this broker.
func (l *ControllerLink) Image() *meta.Image { return l.image.Load() }

// BrokerEpoch is this broker's registered epoch, 0 before registration.
func (l *ControllerLink) BrokerEpoch() int64 { return l.epoch.Load() }

func (l *ControllerLink) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the link stops; false if it stopped.
func (l *ControllerLink) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.stop:
		return false
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// onActive runs fn on the active controller's link, or remote with the active controller's
// Kafka address when that link is not in this process (remote nil: in-process only), retrying
// while there is none, it moves or it cannot be reached, until ctx ends or the link stops.
func (l *ControllerLink) onActive(ctx context.Context, fn func(active *ControllerLink) error, remote func(addr string) error) error {
	for {
		target := l
		addr := ""
		if !l.c.IsActive() {
			target = nil
			if id, _ := l.c.Leader(); id >= 0 {
				if l.cfg.Route != nil {
					target = l.cfg.Route(id)
				}
				if target == nil && remote != nil {
					addr, _ = l.activeAddr(id)
				}
			}
		}
		var err error
		switch {
		case target != nil:
			err = fn(target)
		case addr != "":
			err = remote(addr)
		default:
			err = &meta.NotControllerError{LeaderID: -1}
		}
		if err == nil {
			return nil
		}
		var nc *meta.NotControllerError
		if !errors.As(err, &nc) && !errors.Is(err, meta.ErrClosed) && !errors.Is(err, errRemoteUnavailable) {
			return err
		}
		if !l.sleep(ctx, 50*time.Millisecond) {
			if ctx.Err() != nil {
				return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
			}
			return meta.ErrClosed
		}
	}
}

// submit decides records on the active controller's image and proposes them there; remote is
// the same request forwarded over the network. decide may return no records (nothing to do).
func (l *ControllerLink) submit(ctx context.Context, decide func(img *meta.Image) ([]meta.Record, error), remote func(addr string) error) error {
	return l.onActive(ctx, func(a *ControllerLink) error { return a.proposeLocal(ctx, decide) }, remote)
}

// proposeLocal decides records on this node's image and proposes them, if it is the active
// controller.
func (l *ControllerLink) proposeLocal(ctx context.Context, decide func(img *meta.Image) ([]meta.Record, error)) error {
	if !l.c.IsActive() {
		return &meta.NotControllerError{LeaderID: -1}
	}
	recs, err := decide(l.c.Image())
	if err != nil || len(recs) == 0 {
		return err
	}
	return l.c.Propose(ctx, recs...)
}

// registerLocal registers reg on this node, the active controller, and returns its epoch.
func (l *ControllerLink) registerLocal(ctx context.Context, reg meta.RegisterBroker) (int64, error) {
	err := l.proposeLocal(ctx, func(img *meta.Image) ([]meta.Record, error) {
		return meta.RegisterBrokerRecords(img, reg, l.cfg.Policy), nil
	})
	if err != nil {
		return 0, err
	}
	// Applied on the active controller; the epoch is in its image.
	if br := l.c.Image().Broker(reg.BrokerID); br != nil && br.IncarnationID == reg.IncarnationID {
		return br.Epoch, nil
	}
	return 0, &meta.NotControllerError{LeaderID: -1}
}

// allocateLocal allocates a producer-id block to broker id on this node, the active controller.
func (l *ControllerLink) allocateLocal(ctx context.Context, id int32) (meta.AllocateProducerIDs, error) {
	var rec meta.AllocateProducerIDs
	err := l.proposeLocal(ctx, func(img *meta.Image) ([]meta.Record, error) {
		var err error
		rec, err = meta.AllocateProducerIDsRecord(img, id, meta.DefaultProducerIDBlockSize)
		if err != nil {
			return nil, err
		}
		return []meta.Record{rec}, nil
	})
	return rec, err
}

// heartbeat is a broker's heartbeat arriving at the active controller: it renews the session and
// unfences a fenced broker. With wantShutDown (Kafka's controlled shutdown, KIP-631) it fences
// the broker instead, which moves its leaderships to the rest of each ISR and takes it out of
// every ISR in one committed batch (FenceBrokersRecords), and answers shouldShutDown once that is
// committed: the broker may then stop without a partition waiting broker.session.timeout.ms for
// a new leader.
//
// caughtUp reports whether brokerOffset, the offset of the image the broker had applied when it
// sent the heartbeat, holds everything the controller requires of it: the image this node
// became active with and, if this node unfenced the broker, the record that did. A broker that
// was fenced behind its back (paused past its session) learns so only from its image, which
// still shows its old leaderships until it catches up; see ControllerLink.current.
func (l *ControllerLink) heartbeat(ctx context.Context, id int32, epoch int64, wantShutDown bool, brokerOffset uint64) (shouldShutDown, caughtUp bool, err error) {
	l.liveMu.Lock()
	live := l.live
	if live == nil || !l.c.IsActive() {
		l.liveMu.Unlock()
		return false, false, &meta.NotControllerError{LeaderID: -1}
	}
	img := l.c.Image()
	err = live.Heartbeat(img, id, epoch, time.Now().UnixMilli())
	if err == nil && wantShutDown {
		if l.leaving == nil {
			l.leaving = make(map[int32]int64)
		}
		l.leaving[id] = epoch
	}
	leaving := l.leaving[id] == epoch && epoch != 0
	l.liveMu.Unlock()
	if err != nil {
		return false, false, err
	}
	if leaving {
		if recs := meta.FenceBrokerRecords(img, id, l.cfg.Policy); len(recs) > 0 {
			l.b.logger.Info("controller: controlled shutdown of broker", "broker", id, "epoch", epoch)
			if err := l.c.Propose(ctx, recs...); err != nil {
				return false, false, err
			}
		}
		return wantShutDown, false, nil
	}
	if br := img.Broker(id); br != nil && br.Fenced {
		recs := meta.UnfenceBrokerRecords(img, id, l.cfg.Policy)
		if len(recs) > 0 {
			l.b.logger.Info("controller: unfencing broker", "broker", id, "epoch", epoch)
			if err := l.c.Propose(ctx, recs...); err != nil {
				return false, false, err
			}
			l.liveMu.Lock()
			if l.caughtUpAt != nil {
				l.caughtUpAt[id] = l.c.Image().Offset() // the image holds the unfencing now
			}
			l.liveMu.Unlock()
		}
	}
	l.liveMu.Lock()
	caughtUp = brokerOffset >= max(l.caughtUpFloor, l.caughtUpAt[id])
	l.liveMu.Unlock()
	if caughtUp {
		// A controller resumed from a pause still believes it is active, and its image would
		// call a broker fenced meanwhile caught up: the answer renews the broker's lease only if
		// a quorum still follows this node.
		if err := l.c.VerifyLeader(ctx); err != nil {
			return false, false, err
		}
	}
	return false, caughtUp, nil
}

// current reports whether this broker may act on the leaderships its image shows: it sent, less
// than broker.session.timeout.ms ago, a heartbeat the controller answered as caught up. Past
// that, the controller may have fenced it and moved its leaderships without the broker knowing
// (a process paused by SIGSTOP, a long stall): its image, and the groups it loaded from it, are
// stale until it catches up. While it is not current the group coordinator refuses its groups
// (NOT_COORDINATOR) and FindCoordinator names none (offsets_topic.go); otherwise a resumed
// broker would hand out committed offsets older than the ones its successor accepted meanwhile.
// The price: while no controller answers for longer than the session (an election that slow),
// group requests are refused too, though nothing was fenced.
func (l *ControllerLink) current() bool {
	sent := l.lease.Load()
	return sent != 0 && time.Since(l.born)-time.Duration(sent-1) < time.Duration(l.cfg.SessionTimeoutMs)*time.Millisecond
}

// errNotCaughtUp: the controller answered a heartbeat, but this broker's image lacks records it
// requires (ControllerLink.heartbeat); brokerLoop heartbeats again soon.
var errNotCaughtUp = errors.New("heartbeat answered: not caught up with the metadata log")

// notCaughtUpRetry is how soon brokerLoop heartbeats again after errNotCaughtUp.
const notCaughtUpRetry = 100 * time.Millisecond

// brokerLoop registers this broker and heartbeats every broker.heartbeat.interval.ms,
// registering again when the controller no longer knows this incarnation.
func (l *ControllerLink) brokerLoop() {
	defer l.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.stop
		cancel()
	}()
	id := l.b.cfg.NodeID
	interval := time.Duration(l.cfg.HeartbeatIntervalMs) * time.Millisecond
	for !l.stopped() {
		l.hbMu.Lock()
		leaving := l.shuttingDown
		l.hbMu.Unlock()
		if leaving { // ControlledShutdown heartbeats from now on; never register again
			l.sleep(ctx, interval)
			continue
		}
		if l.epoch.Load() == 0 {
			reg := meta.RegisterBroker{BrokerID: id, IncarnationID: l.incarnation, Rack: l.cfg.Rack,
				Endpoints: []meta.Endpoint{{Listener: l.cfg.Listener, Host: l.cfg.Host, Port: l.cfg.Port}}}
			var epoch int64
			err := l.onActive(ctx, func(a *ControllerLink) error {
				var err error
				epoch, err = a.registerLocal(ctx, reg)
				return err
			}, func(addr string) error {
				var err error
				epoch, err = l.remoteRegister(ctx, addr, reg)
				return err
			})
			if err != nil {
				if !l.stopped() {
					l.b.logger.Warn("broker registration failed", "err", err)
				}
				l.sleep(ctx, interval)
				continue
			}
			l.epoch.Store(epoch)
			l.b.logger.Info("broker registered", "broker", id, "epoch", epoch)
		}
		err := l.heartbeatOnce(ctx, id, false)
		if errors.Is(err, meta.ErrUnknownBroker) || errors.Is(err, meta.ErrStaleBrokerEpoch) {
			l.b.logger.Warn("heartbeat refused: registering again", "err", err)
			l.epoch.Store(0)
			continue
		}
		if errors.Is(err, errNotCaughtUp) {
			l.sleep(ctx, min(interval, notCaughtUpRetry))
			continue
		}
		if err != nil && !l.stopped() {
			l.b.logger.Debug("heartbeat failed", "err", err)
		}
		l.sleep(ctx, interval)
	}
}

// heartbeatOnce sends one ordinary heartbeat (wantShutDown false) unless a controlled shutdown has
// begun, or one asking to shut down; it reports whether the controller let the broker go.
func (l *ControllerLink) heartbeatOnce(ctx context.Context, id int32, wantShutDown bool) error {
	hctx, hcancel := context.WithTimeout(ctx, time.Duration(l.cfg.SessionTimeoutMs)*time.Millisecond)
	defer hcancel()
	if !wantShutDown {
		l.hbMu.Lock()
		if l.shuttingDown {
			l.hbMu.Unlock()
			return errShutdownPending // ordinary heartbeats end once a controlled shutdown begins
		}
		l.hbCancel = hcancel
		l.hbInflight.Add(1)
		l.hbMu.Unlock()
		defer l.hbInflight.Done()
	}
	epoch := l.epoch.Load()
	var offset uint64
	if img := l.image.Load(); img != nil {
		offset = img.Offset()
	}
	sent := time.Since(l.born)
	should, caughtUp := false, false
	err := l.onActive(hctx, func(a *ControllerLink) error {
		var err error
		should, caughtUp, err = a.heartbeat(hctx, id, epoch, wantShutDown, offset)
		return err
	}, func(addr string) error {
		var err error
		should, caughtUp, err = l.remoteHeartbeat(hctx, addr, id, epoch, wantShutDown, offset)
		return err
	})
	switch {
	case err != nil:
		return err
	case wantShutDown && !should:
		return errShutdownPending
	case wantShutDown:
		return nil
	case !caughtUp:
		return errNotCaughtUp
	}
	for { // the lease only moves forward (a late answer to an older heartbeat must not shorten it)
		cur := l.lease.Load()
		if int64(sent)+1 <= cur || l.lease.CompareAndSwap(cur, int64(sent)+1) {
			return nil
		}
	}
}

// controlledShutdownNoQuorum is how long ControlledShutdown tries while this node knows no Raft
// leader: several election timeouts, so a leader change in progress finishes first.
const controlledShutdownNoQuorum = 5 * time.Second

// errShutdownPending: the controller has not let the broker go yet (or, for brokerLoop, a
// controlled shutdown has begun).
var errShutdownPending = errors.New("controlled shutdown pending")

// ControlledShutdown is Kafka's controlled shutdown (controlled.shutdown.enable): before the
// broker stops serving, it asks the active controller to move its leaderships away and take it
// out of every ISR, and waits until this broker has applied that image, so clients and followers
// move to the new leaders while this broker still answers (NOT_LEADER_OR_FOLLOWER, not refused
// connections). Ordinary heartbeats stop for good. It gives up when ctx ends — no quorum, for
// instance, when the rest of the cluster is already down — and the broker then stops anyway, as
// after a crash. When this node is the active controller it also hands Raft leadership to
// another voter, so the cluster is not without a controller until an election timeout.
func (l *ControllerLink) ControlledShutdown(ctx context.Context) error {
	l.hbMu.Lock()
	l.shuttingDown = true
	if l.hbCancel != nil {
		l.hbCancel()
	}
	l.hbMu.Unlock()
	l.hbInflight.Wait()
	id := l.b.cfg.NodeID
	if l.epoch.Load() == 0 {
		return errors.New("controlled shutdown: this broker never registered")
	}
	// The last broker standing has nowhere to move its leaderships (and, in combined mode, its
	// voters are likely gone with the quorum): nothing to wait for.
	others := 0
	for _, br := range l.image.Load().UnfencedBrokers() {
		if br.ID != id {
			others++
		}
	}
	if others == 0 {
		l.b.logger.Info("controlled shutdown: no other unfenced broker to take over; stopping")
		return nil
	}
	var leaderless time.Time // since when this node has known no Raft leader
	// One attempt lasts a heartbeat interval, so the loop below sees a lost quorum (onActive
	// alone would retry until ctx ends).
	attempt := max(time.Duration(l.cfg.HeartbeatIntervalMs)*time.Millisecond, 500*time.Millisecond)
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := l.heartbeatOnce(actx, id, true)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || l.stopped() {
			return fmt.Errorf("controlled shutdown: %w", err)
		}
		if leader, _ := l.c.Leader(); leader >= 0 {
			leaderless = time.Time{}
		} else if leaderless.IsZero() {
			leaderless = time.Now()
		} else if time.Since(leaderless) > controlledShutdownNoQuorum {
			// A minority of the voters (the others stopped or unreachable): no controller can
			// move anything until they return, and waiting would only delay this stop.
			return fmt.Errorf("controlled shutdown: no controller quorum for %v: %w", controlledShutdownNoQuorum, err)
		}
		l.sleep(ctx, 100*time.Millisecond)
	}
	err := l.waitApplied(ctx, func(img *meta.Image) bool {
		br := img.Broker(id)
		return br != nil && br.Fenced
	})
	if err != nil {
		return fmt.Errorf("controlled shutdown: %w", err)
	}
	l.b.logger.Info("controlled shutdown: leaderships moved", "broker", id)
	if l.c.IsActive() {
		if err := l.c.TransferLeadership(ctx); err != nil {
			l.b.logger.Warn("controlled shutdown: Raft leadership transfer failed", "err", err)
		}
	}
	return nil
}

// activeLoop is the active controller's liveness task: while this node leads the quorum it holds
// the brokers' sessions and fences those that miss broker.session.timeout.ms, moving their
// leaderships in the same batch.
func (l *ControllerLink) activeLoop() {
	defer l.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.stop
		cancel()
	}()
	t := time.NewTicker(max(time.Duration(l.cfg.HeartbeatIntervalMs)*time.Millisecond/2, 10*time.Millisecond))
	defer t.Stop()
	var rebalancedAt time.Time // when this node last rebalanced leaders as the active controller
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if !l.c.IsActive() {
			l.liveMu.Lock()
			l.live = nil
			l.liveMu.Unlock()
			continue
		}
		l.liveMu.Lock()
		fresh := l.live == nil
		l.liveMu.Unlock()
		if fresh {
			// Decide on an image holding every committed change; sessions start afresh (not in
			// the log), so every unfenced broker gets a full session from now.
			if err := l.c.Barrier(ctx); err != nil {
				continue
			}
			l.liveMu.Lock()
			l.live = meta.NewLiveness()
			l.leaving = nil // a broker still leaving asks again
			// What an earlier controller fenced and unfenced is unknown here: every broker must
			// have caught up with the image this node decides on.
			l.caughtUpAt, l.caughtUpFloor = map[int32]uint64{}, l.c.Image().Offset()
			l.liveMu.Unlock()
			l.b.logger.Info("controller: active", "node", l.b.cfg.NodeID)
		}
		l.liveMu.Lock()
		img := l.c.Image()
		recs := meta.FenceExpiredRecords(img, l.live, time.Now().UnixMilli(), l.cfg.SessionTimeoutMs, l.cfg.Policy)
		l.liveMu.Unlock()
		if len(recs) == 0 {
			l.completeReassignments(ctx)
			if iv := time.Duration(l.cfg.LeaderImbalanceCheckIntervalMs) * time.Millisecond; iv > 0 && time.Since(rebalancedAt) >= iv {
				if rebalancedAt.IsZero() {
					rebalancedAt = time.Now() // a full interval after becoming active first
				} else {
					rebalancedAt = time.Now()
					l.rebalanceLeaders(ctx)
				}
			}
			continue
		}
		l.proposeOwn(ctx, img, recs, "session expired", "fencing")
	}
}

// proposeOwn proposes records the active controller decided by itself (fencing, completing
// reassignments), logging each: what happened, and what failed if the proposal did.
func (l *ControllerLink) proposeOwn(ctx context.Context, img *meta.Image, recs []meta.Record, what, task string) {
	for _, r := range recs {
		l.b.logger.Info("controller: "+what, "record", meta.FormatRecord(img, r))
	}
	if err := l.c.Propose(ctx, recs...); err != nil && !l.stopped() {
		l.b.logger.Warn("controller: "+task+" failed", "err", err)
	}
}

// completeReassignments completes, on the active controller, every reassignment whose target
// replicas are all in the ISR (KIP-455): the replicas leaving go, leadership moves into the
// target if needed.
func (l *ControllerLink) completeReassignments(ctx context.Context) {
	img := l.c.Image()
	recs := meta.CompleteReassignmentRecords(img)
	if len(recs) == 0 {
		return
	}
	l.proposeOwn(ctx, img, recs, "reassignment complete", "completing reassignments")
}

// rebalanceLeaders moves leadership back to every preferred replica that can lead
// (auto.leader.rebalance.enable).
func (l *ControllerLink) rebalanceLeaders(ctx context.Context) {
	img := l.c.Image()
	recs := meta.PreferredLeaderRecords(img, nil)
	if len(recs) == 0 {
		return
	}
	l.b.logger.Info("controller: moving leadership back to preferred replicas", "partitions", len(recs))
	if err := l.c.Propose(ctx, recs...); err != nil && !l.stopped() {
		l.b.logger.Warn("controller: leader rebalance failed", "err", err)
	}
}

// watchLoop applies every new image to the broker.
func (l *ControllerLink) watchLoop() {
	defer l.wg.Done()
	ch, stopWatch := l.c.Watch()
	defer stopWatch()
	for {
		select {
		case <-l.stop:
			return
		case img, ok := <-ch:
			if !ok {
				return
			}
			l.apply(img)
		}
	}
}

// apply makes the broker match img: peers, topics (ids, partition counts, configs), and every
// partition's assignment — the ones this broker replicates, and the others as not its own (so it
// never serves a partition it holds no replica of). A topic this link applied before that the
// image no longer holds (deleted), or holds under another id (deleted and created again), is
// removed here with its logs; a replica the image moved away (reassignment) gives up its data.
func (l *ControllerLink) apply(img *meta.Image) {
	b := l.b
	var peers []Peer
	for _, br := range img.Brokers() {
		if e, ok := br.Endpoint(l.cfg.Listener); ok {
			peers = append(peers, Peer{NodeID: br.ID, Host: e.Host, Port: e.Port, Rack: br.Rack})
		}
	}
	b.SetPeers(peers)
	self := b.cfg.NodeID
	// Deletions first: a name may come back with a new id in the same image.
	for name, id := range l.topicIDs {
		if t := img.Topic(name); t == nil || t.ID != id {
			if err := b.removeClusterTopic(name, id); err != nil {
				b.logger.Warn("applying metadata: deleting topic", "topic", name, "err", err)
			}
			l.forgetTopic(name)
		}
	}
	sweep := false
	if !l.reconciled && l.registeredIn(img) {
		// The image holds this process's registration, so every deletion and reassignment
		// committed before it (while this broker was down) is in it too: a controlled topic it
		// lacks is gone, and a partition it no longer names this broker for moved away.
		l.reconciled, sweep = true, true
		for name, id := range b.orphanTopics(img) {
			b.logger.Info("applying metadata: removing a topic deleted while this broker was down", "topic", name)
			if err := b.removeClusterTopic(name, id); err != nil {
				b.logger.Warn("applying metadata: deleting topic", "topic", name, "err", err)
			}
		}
	}
	for _, name := range img.TopicNames() {
		t := img.Topic(name)
		if err := b.applyClusterTopic(name, t.ID, int32(len(t.Partitions)), t.Configs); err != nil {
			b.logger.Warn("applying metadata: topic", "topic", name, "err", err)
			continue
		}
		l.topicIDs[name] = t.ID
		for i := range t.Partitions {
			p := &t.Partitions[i]
			k := tpKeyMeta{name, int32(i)}
			prev, had := l.states[k]
			ps := PartitionState{Topic: name, Partition: int32(i), Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
			if had && prev.LeaderEpoch == ps.LeaderEpoch && prev.PartitionEpoch == ps.PartitionEpoch {
				continue
			}
			if err := b.SetPartitionState(ps); err != nil {
				if !errors.Is(err, replica.ErrStaleAssignment) && !b.closed.Load() {
					b.logger.Warn("applying metadata: partition", "topic", name, "partition", i, "err", err)
				}
				continue
			}
			l.states[k] = ps
			if had && slices.Contains(prev.Replicas, self) && !p.IsReplica(self) {
				// Reassigned away (KIP-455): the new replicas hold the data now.
				if err := b.dropReplicaData(name, int32(i)); err != nil {
					b.logger.Warn("applying metadata: removing a moved replica's log", "topic", name, "partition", i, "err", err)
				}
			}
		}
	}
	if sweep {
		l.sweepMovedReplicas(img)
	}
	l.image.Store(img)
	next := make(chan struct{})
	close(*l.applied.Swap(&next))
}

// sweepMovedReplicas empties this broker's copies of the partitions img does not name it a
// replica of: ones reassigned away while it was down (the reassignment's own apply empties them
// when it sees it happen).
func (l *ControllerLink) sweepMovedReplicas(img *meta.Image) {
	b, self := l.b, l.b.cfg.NodeID
	for _, name := range img.TopicNames() {
		t := img.Topic(name)
		for i := range t.Partitions {
			if t.Partitions[i].IsReplica(self) {
				continue
			}
			if p := b.lookupPartition(name, int32(i)); p != nil && p.log.LogEndOffset() > 0 {
				if err := b.dropReplicaData(name, int32(i)); err != nil {
					b.logger.Warn("applying metadata: removing a moved replica's log", "topic", name, "partition", i, "err", err)
				}
			}
		}
	}
}

// registeredIn reports whether img holds this process's registration.
func (l *ControllerLink) registeredIn(img *meta.Image) bool {
	br := img.Broker(l.b.cfg.NodeID)
	return br != nil && br.IncarnationID == l.incarnation
}

// orphanTopics lists the controlled topics this broker holds that img does not (by name and
// id), with their ids.
func (b *Broker) orphanTopics(img *meta.Image) map[string][16]byte {
	out := map[string][16]byte{}
	for name, t := range *b.topicsView.Load() {
		if it := img.Topic(name); t.controlled && (it == nil || it.ID != t.id) {
			out[name] = t.id
		}
	}
	return out
}

// forgetTopic drops what the watch loop remembers of a removed topic, so a topic created again
// under the same name is applied from scratch (its epochs start again at 0).
func (l *ControllerLink) forgetTopic(name string) {
	delete(l.topicIDs, name)
	for k := range l.states {
		if k.topic == name {
			delete(l.states, k)
		}
	}
}

// applyClusterTopic makes this broker's copy of a topic match the image: created with the
// controller's id, grown to its partition count, its configs (AlterTopicConfig records) applied
// to the running partitions. A copy under another id is a deleted topic's and is removed first.
func (b *Broker) applyClusterTopic(name string, id [16]byte, partitions int32, configs map[string]string) error {
	if !validTopicName(name) {
		return fmt.Errorf("topic name %q is illegal", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[name]
	if t != nil && t.id != id {
		if err := b.removeTopicLocked(t); err != nil {
			return err
		}
		t = nil
	}
	if t == nil {
		t, err := b.createTopicWithIDLocked(name, id, partitions, cloneConfigs(configs))
		if err == nil {
			t.controlled = true
			err = b.saveTopicsLocked()
		}
		return err
	}
	if int32(len(t.partitions)) < partitions {
		if err := b.growTopicLocked(t, partitions); err != nil {
			return err
		}
		t = b.topics[name]
	}
	if maps.Equal(t.configs, configs) {
		return nil
	}
	cfg, err := topicLogConfig(b.cfg.LogDefaults, configs)
	if err != nil {
		return err
	}
	if err := b.setTopicConfigsLocked(t, cloneConfigs(configs), cfg); err != nil {
		return err
	}
	b.logger.Info("applied topic configs", "topic", name, "configs", configs)
	return nil
}

// removeClusterTopic removes this broker's copy of a topic the controller deleted, if it is that
// topic (same id).
func (b *Broker) removeClusterTopic(name string, id [16]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[name]; t != nil && t.id == id {
		return b.removeTopicLocked(t)
	}
	return nil
}

// dropReplicaData empties the log of a partition this broker no longer replicates: its segments
// go and the log restarts empty, as Kafka deletes a removed replica's log directory (here the
// directory stays, as every broker keeps one per partition). Should the partition come back here,
// the follower fetches it again from the leader's log start.
func (b *Broker) dropReplicaData(topic string, partition int32) error {
	p := b.lookupPartition(topic, partition)
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if rp := p.replica.Load(); rp != nil && rp.View().IsReplica(b.cfg.NodeID) {
		return nil // assigned here again since
	}
	if err := p.log.TruncateFully(0); err != nil {
		return err
	}
	b.logger.Info("removed a reassigned replica's data", "topic", topic, "partition", partition)
	return p.rebuildProducerState()
}

// waitApplied waits until an image satisfying ok has been applied to this broker.
func (l *ControllerLink) waitApplied(ctx context.Context, ok func(*meta.Image) bool) error {
	for {
		ch := *l.applied.Load()
		if ok(l.image.Load()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stop:
			return meta.ErrClosed
		}
	}
}

func cloneConfigs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ChangeISR commits a leader's ISR change as a ChangeISR record (replica.ISRChanger).
func (l *ControllerLink) ChangeISR(ctx context.Context, ch replica.ISRChange) error {
	return l.submit(ctx, changeISRDecision(ch), func(addr string) error { return l.remoteChangeISR(ctx, addr, ch) })
}

// changeISRDecision decides ch as a ChangeISR record.
func changeISRDecision(ch replica.ISRChange) func(img *meta.Image) ([]meta.Record, error) {
	return func(img *meta.Image) ([]meta.Record, error) {
		t := img.Topic(ch.Topic)
		if t == nil {
			return nil, fmt.Errorf("topic %s: %w", ch.Topic, meta.ErrUnknownTopic)
		}
		return []meta.Record{meta.ChangeISR{TopicID: t.ID, Partition: ch.Partition, BrokerID: ch.BrokerID,
			LeaderEpoch: ch.LeaderEpoch, PartitionEpoch: ch.PartitionEpoch, ISR: ch.ISR}}, nil
	}
}

// createTopicsTimeout bounds a CreateTopics request that names no timeout.
const createTopicsTimeout = 30 * time.Second

// createTopics answers CreateTopics in cluster mode: placement over the unfenced brokers by the
// active controller, answered once this broker has applied the image holding the topic.
func (l *ControllerLink) createTopics(r *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	b := l.b
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	timeout := createTopicsTimeout
	if r.TimeoutMillis > 0 {
		timeout = time.Duration(r.TimeoutMillis) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, rt := range r.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code int16, msg string) {
			st.ErrorCode = code
			st.ErrorMessage = strPtr(msg)
		}
		partitions, rf := rt.NumPartitions, rt.ReplicationFactor
		if partitions == -1 {
			partitions = b.cfg.NumPartitions
		}
		if rf == -1 {
			rf = max(b.cfg.DefaultReplicationFactor, 1)
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		_, cfgErr := topicLogConfig(b.cfg.LogDefaults, configs)
		var id [16]byte
		switch {
		case !validTopicName(rt.Topic):
			fail(errInvalidTopic, fmt.Sprintf("topic name %q is illegal: use 1-249 of [a-zA-Z0-9._-]", rt.Topic))
		case len(rt.ReplicaAssignment) > 0:
			fail(errInvalidReplicaAssignment, "explicit replica assignments are not supported yet")
		case partitions <= 0 || partitions > maxPartitionsPerTopic:
			fail(errInvalidPartitions, fmt.Sprintf("number of partitions must be 1-%d, not %d", maxPartitionsPerTopic, partitions))
		case cfgErr != nil:
			fail(errInvalidConfig, cfgErr.Error())
		case r.ValidateOnly:
			if _, err := meta.CreateTopicRecord(l.image.Load(), rt.Topic, newTopicID(), partitions, int(rf), configs); err != nil {
				fail(metaErrorCode(err), err.Error())
			}
		default:
			var err error
			id, err = l.createTopic(ctx, rt, partitions, rf, configs, timeout)
			switch {
			case err == nil:
				b.logger.Info("created topic", "topic", rt.Topic, "partitions", partitions, "replication_factor", rf)
			case errors.Is(err, context.DeadlineExceeded):
				fail(errRequestTimedOut, err.Error())
			default:
				fail(metaErrorCode(err), err.Error())
			}
		}
		if st.ErrorCode == errNone {
			st.NumPartitions, st.ReplicationFactor = partitions, rf
			st.TopicID = id
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// createTopic creates one topic through the active controller (placement over the unfenced
// brokers) and returns its id once this broker has applied it. rt is what is forwarded when the
// active controller is in another process.
func (l *ControllerLink) createTopic(ctx context.Context, rt kmsg.CreateTopicsRequestTopic, partitions int32, rf int16,
	configs map[string]string, timeout time.Duration) ([16]byte, error) {
	id := newTopicID()
	err := l.submit(ctx, func(img *meta.Image) ([]meta.Record, error) {
		if t := img.Topic(rt.Topic); t != nil && t.ID == id {
			return nil, nil // committed before a controller change: done
		}
		rec, err := meta.CreateTopicRecord(img, rt.Topic, id, partitions, int(rf), configs)
		if err != nil {
			return nil, err
		}
		return []meta.Record{rec}, nil
	}, func(addr string) error {
		// The active controller picks the id; wait for the image holding it.
		var err error
		id, err = remoteCreateTopic(ctx, addr, rt, partitions, rf, timeout)
		return err
	})
	if err == nil {
		err = l.waitApplied(ctx, func(img *meta.Image) bool {
			t := img.Topic(rt.Topic)
			return t != nil && t.ID == id
		})
	}
	return id, err
}

// metaErrorCode maps a controller decision's error to a Kafka error code.
func metaErrorCode(err error) int16 {
	var kc *kafkaCodeError
	switch {
	case errors.As(err, &kc): // answered by the active controller over the network
		return kc.code
	case errors.Is(err, meta.ErrTopicExists):
		return errTopicAlreadyExists
	case errors.Is(err, meta.ErrInvalidReplicationFactor):
		return errInvalidReplicationFactor
	case errors.Is(err, meta.ErrInvalidTopic):
		return errInvalidTopic
	case errors.Is(err, meta.ErrInvalidPartitions):
		return errInvalidPartitions
	case errors.Is(err, meta.ErrInvalidConfig):
		return errInvalidConfig
	case errors.Is(err, meta.ErrInvalidReplicas), errors.Is(err, meta.ErrIneligibleReplica):
		return errInvalidReplicaAssignment
	case errors.Is(err, meta.ErrUnknownTopic), errors.Is(err, meta.ErrUnknownPartition):
		return errUnknownTopicOrPartition
	case errors.Is(err, meta.ErrElectionNotNeeded):
		return errElectionNotNeeded
	case errors.Is(err, meta.ErrPreferredLeaderNotAvailable):
		return errPreferredLeaderNotAvail
	case errors.Is(err, meta.ErrEligibleLeadersNotAvailable):
		return errEligibleLeadersNotAvail
	case errors.Is(err, meta.ErrNoReassignmentInProgress):
		return errNoReassignmentInProgress
	case errors.Is(err, meta.ErrInvalidElection):
		return errInvalidRequest
	default:
		return errUnknownServerError
	}
}

// clusterMetadata answers Metadata from the image: every registered unfenced broker, and each
// partition's leader, replicas, ISR and leader epoch (fenced replicas as offline).
func (l *ControllerLink) clusterMetadata(r *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	img := l.image.Load()
	for _, br := range img.UnfencedBrokers() {
		e, ok := br.Endpoint(l.cfg.Listener)
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, e.Host, e.Port
		if br.Rack != "" {
			mb.Rack = strPtr(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	resp.ClusterID = strPtr(clusterID)
	resp.ControllerID, _ = l.c.Leader()
	var names []string
	if r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0) {
		names = img.TopicNames()
	} else {
		for _, t := range r.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	allowAuto := l.b.cfg.AutoCreateTopics && (r.Version < 4 || r.AllowAutoTopicCreation)
	for _, name := range names {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = strPtr(name)
		t := img.Topic(name)
		switch {
		case t == nil && !validTopicName(name):
			mt.ErrorCode = errInvalidTopic
		case t == nil && allowAuto:
			mt.ErrorCode = l.autoCreate(img, name) // LEADER_NOT_AVAILABLE while it is created
		case t == nil:
			mt.ErrorCode = errUnknownTopicOrPartition
		default:
			mt.TopicID, mt.IsInternal = t.ID, isInternalTopic(name)
			for i := range t.Partitions {
				p := &t.Partitions[i]
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition = int32(i)
				mp.Leader, mp.LeaderEpoch = p.Leader, p.LeaderEpoch
				mp.Replicas, mp.ISR = append([]int32(nil), p.Replicas...), append([]int32(nil), p.ISR...)
				for _, rid := range p.Replicas {
					if br := img.Broker(rid); br == nil || br.Fenced {
						mp.OfflineReplicas = append(mp.OfflineReplicas, rid)
					}
				}
				if p.Leader == meta.NoLeader {
					mp.ErrorCode = errLeaderNotAvailable
				}
				mt.Partitions = append(mt.Partitions, mp)
			}
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// producerIDBlocks hands out producer ids from blocks the controller allocates to this broker
// (AllocateProducerIDs records), so no two brokers ever give out the same id.
type producerIDBlocks struct {
	mu        sync.Mutex
	next, end int64
}

// nextProducerID returns an unused producer id, asking the controller for a new block when this
// broker's is spent.
func (l *ControllerLink) nextProducerID(ctx context.Context) (int64, error) {
	l.pids.mu.Lock()
	defer l.pids.mu.Unlock()
	if l.pids.next >= l.pids.end {
		self := l.b.cfg.NodeID
		var first int64
		var size int32
		err := l.onActive(ctx, func(a *ControllerLink) error {
			rec, err := a.allocateLocal(ctx, self)
			first, size = rec.FirstProducerID, rec.Size
			return err
		}, func(addr string) error {
			var err error
			first, size, err = l.remoteAllocatePIDs(ctx, addr, self)
			return err
		})
		if err != nil {
			return -1, err
		}
		l.pids.next, l.pids.end = first, first+int64(size)
	}
	id := l.pids.next
	l.pids.next++
	return id, nil
}

// createPartitions answers CreatePartitions in cluster mode: the new partitions are placed by the
// active controller with the topic's replication factor, answered once applied here. Explicit
// assignments are not supported yet.
func (l *ControllerLink) createPartitions(r *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	timeout := createTopicsTimeout
	if r.TimeoutMillis > 0 {
		timeout = time.Duration(r.TimeoutMillis) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	named := make(map[string]int, len(r.Topics))
	for _, rt := range r.Topics {
		named[rt.Topic]++
	}
	for _, rt := range r.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code int16, msg string) { st.ErrorCode, st.ErrorMessage = code, strPtr(msg) }
		t := l.image.Load().Topic(rt.Topic)
		switch {
		case named[rt.Topic] > 1:
			fail(errInvalidRequest, fmt.Sprintf("topic %q is named more than once in the request", rt.Topic))
		case t == nil:
			fail(errUnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", rt.Topic))
		case rt.Assignment != nil:
			fail(errInvalidReplicaAssignment, "explicit replica assignments are not supported yet")
		case rt.Count > maxPartitionsPerTopic:
			fail(errInvalidPartitions, fmt.Sprintf("number of partitions must be at most %d, not %d", maxPartitionsPerTopic, rt.Count))
		case r.ValidateOnly:
			if _, err := meta.CreatePartitionsRecord(l.image.Load(), rt.Topic, rt.Count); err != nil {
				fail(metaErrorCode(err), err.Error())
			}
		default:
			id := t.ID
			err := l.submit(ctx, func(img *meta.Image) ([]meta.Record, error) {
				if cur := img.TopicByID(id); cur != nil && int32(len(cur.Partitions)) == rt.Count {
					return nil, nil // committed before a controller change: done
				}
				rec, err := meta.CreatePartitionsRecord(img, rt.Topic, rt.Count)
				if err != nil {
					return nil, err
				}
				return []meta.Record{rec}, nil
			}, func(addr string) error { return remoteCreatePartitions(ctx, addr, rt.Topic, rt.Count, timeout) })
			if err == nil {
				err = l.waitApplied(ctx, func(img *meta.Image) bool {
					cur := img.TopicByID(id)
					return cur != nil && int32(len(cur.Partitions)) >= rt.Count
				})
			}
			switch {
			case err == nil:
				l.b.logger.Info("created partitions", "topic", rt.Topic, "partitions", rt.Count)
			case errors.Is(err, context.DeadlineExceeded):
				fail(errRequestTimedOut, err.Error())
			default:
				fail(metaErrorCode(err), err.Error())
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// clusterDescribe fills DescribeCluster's brokers and controller from the image.
func (l *ControllerLink) clusterDescribe(resp *kmsg.DescribeClusterResponse) {
	resp.ControllerID, _ = l.c.Leader()
	resp.Brokers = nil
	for _, br := range l.image.Load().UnfencedBrokers() {
		e, ok := br.Endpoint(l.cfg.Listener)
		if !ok {
			continue
		}
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port = br.ID, e.Host, e.Port
		if br.Rack != "" {
			db.Rack = strPtr(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, db)
	}
}
