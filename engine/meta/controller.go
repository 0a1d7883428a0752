package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a node's controller. Zero durations and counts take the defaults noted.
type Config struct {
	// NodeID is node.id.
	NodeID int32
	// Voters is controller.quorum.voters (ParseQuorumVoters). Empty means the single-node default:
	// one voter, this node, on an in-memory transport, so no port is opened.
	Voters []Voter
	// Dir is metadata.log.dir: the Raft log and stable store (pebble, Dir/raft-log) and the
	// snapshots (Dir/snapshots).
	Dir string
	// BindAddr is where this node's Raft transport listens: the CONTROLLER entry of Kafka's
	// listeners. Empty means this node's voter address. The two differ when something sits
	// between the voters (a proxy, NAT): the others dial the voter address, which this node also
	// names as its own in every RPC, and the traffic arrives here.
	BindAddr string

	// ElectionTimeout is controller.quorum.election.timeout.ms (1 s); HeartbeatTimeout, how long a
	// follower waits for the leader before standing for election, is Kafka's
	// controller.quorum.fetch.timeout.ms (1 s here, raft's default); LeaderLeaseTimeout (500 ms)
	// must not exceed it; CommitTimeout (50 ms) bounds how long a commit waits to be batched.
	ElectionTimeout    time.Duration
	HeartbeatTimeout   time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// SnapshotThreshold is how many entries since the last snapshot trigger the next (8192),
	// checked every SnapshotInterval (2 min); TrailingLogs entries (10240) stay behind a snapshot
	// so a briefly lagging voter catches up from the log, not a snapshot. SnapshotsRetained (2).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	SnapshotsRetained int

	// ProposeTimeout bounds a Propose whose context has no deadline (10 s).
	ProposeTimeout time.Duration

	Logger *slog.Logger // nil: slog.Default()
}

const (
	defaultProposeTimeout = 10 * time.Second
	transportPoolMax      = 3                // raft's suggested connection pool per peer
	transportTimeout      = 10 * time.Second // raft's suggested I/O deadline on its connections
	logCacheEntries       = 512              // recent entries kept in memory for followers
)

// ErrClosed is returned by a Controller that was closed.
var ErrClosed = errors.New("meta: controller closed")

// NotControllerError is returned by Propose on a node that is not the active controller (the Raft
// leader). LeaderID is the leader's node id, or -1 if none is known (an election is under way),
// so the broker can forward the request to that node's listener from the image. MaybeCommitted
// is set when leadership was lost with the proposal in flight: it may still commit, so the caller
// re-decides on a fresh image rather than blindly resending.
type NotControllerError struct {
	LeaderID       int32
	LeaderAddr     string
	MaybeCommitted bool
}

func (e *NotControllerError) Error() string {
	s := "meta: not the controller"
	if e.LeaderID >= 0 {
		s += fmt.Sprintf(" (controller is node %d at %s)", e.LeaderID, e.LeaderAddr)
	} else {
		s += " (no controller elected)"
	}
	if e.MaybeCommitted {
		s += "; the proposal may have been committed"
	}
	return s
}

// Controller is one node's member of the controller quorum: a Raft node whose state machine is
// the metadata image. Every method is safe for concurrent use.
type Controller struct {
	cfg       Config
	logger    *slog.Logger
	fsm       *fsm
	store     *LogStore
	transport raft.Transport
	raft      *raft.Raft

	closeOnce sync.Once
	closeErr  error
}

// Open starts a node's controller from cfg.Dir, bootstrapping the quorum on first start (every
// voter bootstraps the same configuration, which hashicorp/raft allows) and otherwise recovering
// from the latest snapshot and the log. The image is Empty until the first entries apply.
func Open(cfg Config) (*Controller, error) {
	if cfg.Dir == "" {
		return nil, errors.New("meta: no metadata directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ProposeTimeout <= 0 {
		cfg.ProposeTimeout = defaultProposeTimeout
	}
	if cfg.SnapshotsRetained <= 0 {
		cfg.SnapshotsRetained = 2
	}
	var self *Voter
	for i := range cfg.Voters {
		if cfg.Voters[i].ID == cfg.NodeID {
			self = &cfg.Voters[i]
		}
	}
	if len(cfg.Voters) > 0 && self == nil {
		// Brokers outside the quorum will join as non-voters (issue 6); not yet.
		return nil, fmt.Errorf("meta: node.id %d is not in controller.quorum.voters %s", cfg.NodeID, FormatQuorumVoters(cfg.Voters))
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	hlog := newHclog(cfg.Logger)

	c := &Controller{cfg: cfg, logger: cfg.Logger, fsm: newFSM(cfg.Logger)}
	var err error
	if c.store, err = OpenLogStore(filepath.Join(cfg.Dir, "raft-log"), nil, cfg.Logger); err != nil {
		return nil, err
	}
	fail := func(err error) (*Controller, error) {
		if c.transport != nil {
			closeTransport(c.transport)
		}
		c.store.Close()
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotsRetained, hlog.Named("snapshots"))
	if err != nil {
		return fail(fmt.Errorf("meta: snapshots: %w", err))
	}

	var servers []raft.Server
	if self == nil {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress("meta-node-" + strconv.Itoa(int(cfg.NodeID))))
		c.transport = tr
		servers = []raft.Server{{Suffrage: raft.Voter, ID: serverID(cfg.NodeID), Address: addr}}
	} else {
		advertise, err := net.ResolveTCPAddr("tcp", self.Addr())
		if err != nil {
			return fail(fmt.Errorf("meta: controller address %s: %w", self.Addr(), err))
		}
		bind := self.Addr()
		if cfg.BindAddr != "" {
			bind = cfg.BindAddr
		}
		tr, err := raft.NewTCPTransportWithLogger(bind, advertise, transportPoolMax, transportTimeout, hlog.Named("transport"))
		if err != nil {
			return fail(fmt.Errorf("meta: controller listener %s: %w", bind, err))
		}
		c.transport = tr
		for _, v := range cfg.Voters {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(v.Addr())})
		}
	}

	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.Logger = hlog
	setDuration(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setDuration(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setDuration(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	setDuration(&rc.CommitTimeout, cfg.CommitTimeout)
	setDuration(&rc.SnapshotInterval, cfg.SnapshotInterval)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return fail(fmt.Errorf("meta: %w", err))
	}

	logs, err := raft.NewLogCache(logCacheEntries, c.store)
	if err != nil {
		return fail(fmt.Errorf("meta: %w", err))
	}
	existing, err := raft.HasExistingState(logs, c.store, snaps)
	if err != nil {
		return fail(fmt.Errorf("meta: %w", err))
	}
	if !existing {
		if err := raft.BootstrapCluster(rc, logs, c.store, snaps, c.transport, raft.Configuration{Servers: servers}); err != nil {
			return fail(fmt.Errorf("meta: bootstrap: %w", err))
		}
	}
	if c.raft, err = raft.NewRaft(rc, c.fsm, logs, c.store, snaps, c.transport); err != nil {
		return fail(fmt.Errorf("meta: %w", err))
	}
	return c, nil
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

func setDuration(dst *time.Duration, v time.Duration) {
	if v > 0 {
		*dst = v
	}
}

func closeTransport(t raft.Transport) {
	if c, ok := t.(raft.WithClose); ok {
		c.Close()
	}
}

// Image returns the latest applied image. Lock-free; the image is immutable.
func (c *Controller) Image() *Image { return c.fsm.image.Load() }

// Watch returns a channel that holds the current image at once and then the newest image after
// each change, replacing one not yet read (a slow reader skips images, never falls behind), and a
// function that stops the watch and closes the channel. Close closes it too.
func (c *Controller) Watch() (<-chan *Image, func()) { return c.fsm.watch() }

// IsActive reports whether this node is the active controller (the Raft leader).
func (c *Controller) IsActive() bool { return c.raft.State() == raft.Leader }

// LeaderCh is raft's leadership channel: true when this node becomes the active controller, false
// when it stops being it. One consumer only (the broker's controller loop), which must keep up.
func (c *Controller) LeaderCh() <-chan bool { return c.raft.LeaderCh() }

// Leader returns the active controller's node id and Raft address, or -1 and "" if none is known.
func (c *Controller) Leader() (int32, string) {
	addr, id := c.raft.LeaderWithID()
	n, err := strconv.ParseInt(string(id), 10, 32)
	if id == "" || err != nil {
		return -1, ""
	}
	return int32(n), string(addr)
}

func (c *Controller) notController(maybeCommitted bool) error {
	id, addr := c.Leader()
	if id == c.cfg.NodeID {
		id, addr = -1, "" // we just lost leadership; the new leader is not known yet
	}
	return &NotControllerError{LeaderID: id, LeaderAddr: addr, MaybeCommitted: maybeCommitted}
}

// Propose commits a batch of records through Raft and waits until this node has applied it. It
// returns nil once the batch applied, an error wrapping the Apply error (ErrStalePartitionEpoch,
// …) if it was committed but rejected, a *NotControllerError on a node that is not the active
// controller, or ctx's error if ctx ended first — then the outcome is unknown.
func (c *Controller) Propose(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.raft.State() != raft.Leader {
		if c.raft.State() == raft.Shutdown {
			return ErrClosed
		}
		return c.notController(false)
	}
	timeout := c.cfg.ProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := c.raft.Apply(AppendBatch(nil, recs), timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }() // ends when raft resolves the future, at the latest on Shutdown
	var err error
	select {
	case <-ctx.Done():
		return fmt.Errorf("meta: proposal outcome unknown: %w", ctx.Err())
	case err = <-done:
	}
	switch {
	case err == nil:
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return c.notController(false)
	case errors.Is(err, raft.ErrLeadershipLost):
		return c.notController(true)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	default:
		return fmt.Errorf("meta: propose: %w", err)
	}
	if rej, ok := f.Response().(error); ok && rej != nil {
		return fmt.Errorf("meta: proposal rejected: %w", rej)
	}
	return nil
}

// Barrier waits until this node has applied every entry committed before the call. A newly active
// controller calls it before deciding anything, so it decides on an image that includes every
// committed change.
func (c *Controller) Barrier(ctx context.Context) error {
	timeout := c.cfg.ProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := c.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return c.notController(false)
		}
		return fmt.Errorf("meta: barrier: %w", err)
	}
	return nil
}

// Snapshot takes a snapshot now and compacts the log behind it (keeping TrailingLogs entries).
// Raft takes them by itself past SnapshotThreshold; this is for tests and operators.
func (c *Controller) Snapshot() error {
	if err := c.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("meta: snapshot: %w", err)
	}
	return nil
}

// AppliedIndex is the Raft index of the last entry this node applied (including rejected ones).
func (c *Controller) AppliedIndex() uint64 { return c.raft.AppliedIndex() }

// Close stops Raft, the transport and the log store, and closes every Watch channel. Idempotent.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		err := c.raft.Shutdown().Error()
		closeTransport(c.transport)
		if cerr := c.store.Close(); err == nil {
			err = cerr
		}
		c.fsm.closeWatchers()
		c.closeErr = err
	})
	return c.closeErr
}
