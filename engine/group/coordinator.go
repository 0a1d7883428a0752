package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Coordinator is the group coordinator of one broker: every group, its members and rebalances,
// and the committed offsets in its Store. Create with Open; every method is safe for concurrent
// use and none blocks on I/O: requests that must wait (JoinGroup, SyncGroup, and writes that are
// answered once applied) take a reply function that is called later, exactly once, from a timer
// or journal goroutine, or from the goroutine of the request that completed the wait.
type Coordinator struct {
	cfg    atomic.Pointer[Config]
	topics Topics
	clock  Clock
	newID  func(prefix string) string
	logger *slog.Logger

	store   *Store
	storeMu sync.RWMutex // read-held by every read of the store; Close holds it to close the store
	journal *journal
	repl    atomic.Pointer[replicatedMode] // set in a cluster (replicated.go); nil: every group is ours

	mu             sync.Mutex // groups, retentionTimer
	groups         map[string]*group
	retentionTimer Timer
	closed         atomic.Bool

	m coordinatorMetrics
}

// coordinatorMetrics are counters exported by Collect (metrics.go).
type coordinatorMetrics struct {
	rebalances     atomic.Int64 // generations completed (join phases ended)
	offsetCommits  atomic.Int64 // offsets stored (partitions, not requests)
	offsetsExpired atomic.Int64
	groupsRemoved  atomic.Int64
}

// Client identifies who sent a request: client.id and the address, as Kafka reports them.
type Client struct {
	ID   string
	Host string
}

// Open opens the store in dir, loads every group it holds and starts the journal and the offset
// retention timer.
func Open(dir string, opts Options) (*Coordinator, error) {
	if opts.Topics == nil {
		panic("BUG: group.Open without Options.Topics")
	}
	c := &Coordinator{topics: opts.Topics, clock: opts.Clock, newID: opts.NewMemberID, logger: opts.Logger, groups: map[string]*group{}}
	if c.clock == nil {
		c.clock = realClock{}
	}
	if c.newID == nil {
		c.newID = newMemberID
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	cfg := opts.Config
	c.cfg.Store(&cfg)
	store, err := OpenStore(dir, opts.FS, cfg.Fsync, c.logger)
	if err != nil {
		return nil, err
	}
	c.store = store
	groups, err := c.buildGroups(func(string) bool { return true })
	if err != nil {
		store.Close()
		return nil, err
	}
	c.groups = groups
	c.logger.Debug("group coordinator loaded", "groups", len(groups))
	c.journal = newJournal(store)
	c.mu.Lock()
	c.armRetentionLocked()
	c.mu.Unlock()
	return c, nil
}

// buildGroups rebuilds the groups that match selects from the store: groups with metadata come
// back in the generation they had (Stable if it has members, which then must heartbeat within
// their session timeouts), and groups that only have offsets come back Empty.
func (c *Coordinator) buildGroups(match func(name string) bool) (map[string]*group, error) {
	now := c.clock.Now()
	groups := map[string]*group{}
	err := c.store.Groups(func(name string, v GroupValue) error {
		if !match(name) {
			return nil
		}
		g := c.newGroup(name)
		groups[name] = g
		g.mayHaveOffsets, g.persisted = true, true
		g.protocolType, g.generation, g.protocol, g.leader = v.ProtocolType, v.Generation, v.Protocol, v.Leader
		g.stateTime = time.UnixMilli(v.StateTimestampMs)
		for _, mv := range v.Members {
			m := &member{
				id: mv.MemberID, instanceID: mv.InstanceID, clientID: mv.ClientID, clientHost: mv.ClientHost,
				rebalanceTimeoutMs: mv.RebalanceTimeoutMs, sessionTimeoutMs: mv.SessionTimeoutMs,
				protocolType: v.ProtocolType, protocols: []protocol{{v.Protocol, mv.Subscription}},
				assignment: mv.Assignment,
			}
			g.addMember(m)
			g.scheduleSession(m, msDuration(m.sessionTimeoutMs))
		}
		if v.Leader != "" && g.members[v.Leader] != nil {
			g.leader = v.Leader
		}
		if len(g.members) > 0 {
			g.state = stateStable
			g.computeSubscribedTopics()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = c.store.OffsetGroups(func(name string) error {
		if g := groups[name]; g != nil || !match(name) {
			return nil
		}
		g := c.newGroup(name)
		groups[name] = g
		g.mayHaveOffsets = true
		g.stateTime = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return groups, nil
}

// Config returns the configuration in force.
func (c *Coordinator) Config() Config { return *c.cfg.Load() }

// SetConfig replaces the configuration. Timers already armed keep their deadlines; the retention
// pass is re-armed at the new interval; Fsync applies from the next batch of writes.
func (c *Coordinator) SetConfig(cfg Config) {
	c.cfg.Store(&cfg)
	c.store.SetFsync(cfg.Fsync)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retentionTimer != nil {
		c.retentionTimer.Stop()
		c.armRetentionLocked()
	}
}

func (c *Coordinator) config() *Config { return c.cfg.Load() }

// Close answers every parked JoinGroup and SyncGroup with NOT_COORDINATOR (as Kafka does when it
// unloads a group: the clients look for the coordinator again), stops every timer, applies the
// journal's queue and closes the store.
func (c *Coordinator) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	if c.retentionTimer != nil {
		c.retentionTimer.Stop()
		c.retentionTimer = nil
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		var out outbox
		g.mu.Lock()
		g.shutdown(&out)
		g.mu.Unlock()
		out.flush()
	}
	c.journal.close()
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	return c.store.Close()
}

// errClosedStore is what a read of the store returns once the coordinator is closed.
var errClosedStore = errors.New("group: coordinator closed")

// readStore runs fn, which reads the store, unless the coordinator is closed: pebble must not be
// read once closed, and an operator's scrape or describe may arrive at any moment.
func (c *Coordinator) readStore(fn func() error) error {
	c.storeMu.RLock()
	defer c.storeMu.RUnlock()
	if c.closed.Load() {
		return errClosedStore
	}
	return fn()
}

// newGroupLocked creates an Empty group. Caller holds c.mu.
func (c *Coordinator) newGroupLocked(name string) *group {
	g := c.newGroup(name)
	c.groups[name] = g
	return g
}

// newGroup returns an Empty group, not yet in the map.
func (c *Coordinator) newGroup(name string) *group {
	return &group{
		c: c, name: name, stateTime: c.clock.Now(),
		members: map[string]*member{}, pending: map[string]Timer{}, static: map[string]string{},
	}
}

// lockGroup returns the group, locked, creating it when create is set. It returns nil if the
// group does not exist (or the coordinator is closed: code is then errClosed; or, in a cluster,
// this broker does not coordinate it: NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS). A group found Dead
// was being removed as we looked: it is gone from the map, so looking again finds its successor.
func (c *Coordinator) lockGroup(name string, create bool) (g *group, created bool, code int16) {
	for range groupLookupRetries {
		if c.closed.Load() {
			return nil, false, errClosed
		}
		c.mu.Lock()
		if code := c.ownerCodeLocked(name); code != errNone {
			c.mu.Unlock()
			return nil, false, code
		}
		g = c.groups[name]
		if g == nil && create {
			g, created = c.newGroupLocked(name), true
		}
		c.mu.Unlock()
		if g == nil {
			return nil, false, errNone
		}
		g.mu.Lock()
		if g.state != stateDead {
			return g, created, errNone
		}
		g.mu.Unlock()
	}
	return nil, false, errCoordinatorNotAvailable
}

// lookupGroup returns the group (unlocked), or nil.
func (c *Coordinator) lookupGroup(name string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[name]
}

// sortedGroups returns every group, by name.
func (c *Coordinator) sortedGroups() []*group {
	c.mu.Lock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// removeGroupLocked marks g Dead and forgets it. Caller holds g.mu.
func (c *Coordinator) removeGroupLocked(g *group) {
	g.transition(stateDead)
	g.stopTimers()
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
	c.m.groupsRemoved.Add(1)
}

// Flush waits until every write appended so far is applied and answered. For tests and tools.
func (c *Coordinator) Flush() { c.journal.waitIdle() }

// RunRetention runs the offset retention pass now (it also runs every
// offsets.retention.check.interval.ms).
func (c *Coordinator) RunRetention() { c.retentionPass() }

func (c *Coordinator) armRetentionLocked() {
	if c.closed.Load() {
		return
	}
	d := max(msDuration64(c.config().OffsetsRetentionCheckIntervalMs), retentionCheckIntervalMin)
	c.retentionTimer = c.clock.AfterFunc(d, func() {
		c.retentionPass()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.retentionTimer != nil {
			c.armRetentionLocked()
		}
	})
}

// outbox collects the replies a state change produces while a group's lock is held; flush sends
// them after the lock is released, so a reply never runs under a lock.
type outbox struct{ fns []func() }

func (o *outbox) add(f func()) { o.fns = append(o.fns, f) }

func (o *outbox) flush() {
	for _, f := range o.fns {
		f()
	}
	o.fns = nil
}

func (c *Coordinator) now() time.Time { return c.clock.Now() }

func msDuration(ms int32) time.Duration   { return time.Duration(ms) * time.Millisecond }
func msDuration64(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// newMemberID is Kafka's: the client id (or group.instance.id) and a random UUID.
func newMemberID(prefix string) string {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(fmt.Sprintf("BUG: crypto/rand: %v", err))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ErrGroupNotFound is returned by Describe for a group the coordinator does not know.
var ErrGroupNotFound = errors.New("group: no such group")
