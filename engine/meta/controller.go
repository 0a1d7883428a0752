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
	// ListenAddr is this node's controller address (its CONTROLLER listener) when it is not one
	// of Voters: it then joins the quorum as a non-voter — it receives and applies the metadata
	// log like every member, never votes and never becomes the controller. Ignored on a voter,
	// whose address is its entry in Voters.
	ListenAddr string
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
	stop      chan struct{} // closed by Close: ends joinLoop
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
	observer := len(cfg.Voters) > 0 && self == nil
	if observer && cfg.ListenAddr == "" {
		return nil, fmt.Errorf("meta: node.id %d is not in controller.quorum.voters %s and has no controller address to join from", cfg.NodeID, FormatQuorumVoters(cfg.Voters))
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	hlog := newHclog(cfg.Logger)

	c := &Controller{cfg: cfg, logger: cfg.Logger, fsm: newFSM(cfg.Logger), stop: make(chan struct{})}
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
	var layer *muxStreamLayer
	if len(cfg.Voters) == 0 {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress("meta-node-" + strconv.Itoa(int(cfg.NodeID))))
		c.transport = tr
		servers = []raft.Server{{Suffrage: raft.Voter, ID: serverID(cfg.NodeID), Address: addr}}
	} else {
		// The address the others dial (and raft names as this node's): the voter address, or a
		// non-voter's ListenAddr. It is bound unless BindAddr says otherwise (a proxy in between).
		addr := cfg.ListenAddr
		if self != nil {
			addr = self.Addr()
		}
		bind := addr
		if cfg.BindAddr != "" {
			bind = cfg.BindAddr
		}
		advertise, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("meta: controller address %s: %w", addr, err))
		}
		if layer, err = newMuxStreamLayer(bind, advertise); err != nil {
			return fail(fmt.Errorf("meta: controller listener %s: %w", bind, err))
		}
		// MaxRPCsInFlight 1: AppendEntries go to each follower one at a time, not pipelined. With
		// pipelining, a follower's error answer could leave the leader's send loop parked on a full
		// channel for good (hashicorp/raft issue 612), and Shutdown then waits for it forever: a
		// chaos run's node did not exit within a minute of SIGTERM with exactly that stack. The
		// metadata log is small; pipelining bought nothing.
		c.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: layer, MaxPool: transportPoolMax, Timeout: transportTimeout, Logger: hlog.Named("transport"),
			MaxRPCsInFlight: 1,
		})
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
	if !existing && !observer { // a non-voter starts empty and is added by the leader (join)
		if err := raft.BootstrapCluster(rc, logs, c.store, snaps, c.transport, raft.Configuration{Servers: servers}); err != nil {
			return fail(fmt.Errorf("meta: bootstrap: %w", err))
		}
	}
	if c.raft, err = raft.NewRaft(rc, c.fsm, logs, c.store, snaps, c.transport); err != nil {
		return fail(fmt.Errorf("meta: %w", err))
	}
	if layer != nil {
		layer.start(c.answerJoin)
	}
	if observer {
		go c.joinLoop()
	}
	return c, nil
}

// joinInterval is how often a non-voter asks the voters to add it until one has.
const joinInterval = 500 * time.Millisecond

// joinLoop runs on a non-voter: it asks each voter in turn to add it to the quorum's
// configuration until the leader has (a restarted non-voter is in it already: one handshake
// confirms it).
func (c *Controller) joinLoop() {
	req := joinRequest{NodeID: c.cfg.NodeID, Addr: c.cfg.ListenAddr}
	for {
		for _, v := range c.cfg.Voters {
			resp, err := askToJoin(v.Addr(), req)
			switch {
			case err != nil:
				c.logger.Debug("join: voter unreachable", "voter", v.ID, "err", err)
			case resp.OK:
				c.logger.Info("joined the controller quorum as a non-voter", "via", v.ID)
				return
			case resp.Error != "":
				c.logger.Warn("join refused", "voter", v.ID, "err", resp.Error)
			}
		}
		select {
		case <-c.stop:
			return
		case <-time.After(joinInterval):
		}
	}
}

// answerJoin is a voter's side of a join handshake: the leader adds the node as a non-voter
// (unless it is one already at that address); others point at the leader.
func (c *Controller) answerJoin(req joinRequest) joinResponse {
	for _, v := range c.cfg.Voters {
		if v.ID == req.NodeID {
			return joinResponse{Error: fmt.Sprintf("node.id %d is a voter in controller.quorum.voters; a joining node needs an id of its own", req.NodeID)}
		}
	}
	if c.raft.State() != raft.Leader {
		addr, _ := c.raft.LeaderWithID()
		return joinResponse{Leader: string(addr)}
	}
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return joinResponse{Error: err.Error()}
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == serverID(req.NodeID) && s.Address == raft.ServerAddress(req.Addr) && s.Suffrage == raft.Nonvoter {
			return joinResponse{OK: true}
		}
	}
	if err := c.raft.AddNonvoter(serverID(req.NodeID), raft.ServerAddress(req.Addr), 0, joinIOTimeout/2).Error(); err != nil {
		addr, _ := c.raft.LeaderWithID()
		return joinResponse{Leader: string(addr), Error: err.Error()}
	}
	c.logger.Info("controller: added a non-voter", "node", req.NodeID, "addr", req.Addr)
	return joinResponse{OK: true}
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

// VerifyLeader confirms with a round trip to a quorum that this node is still the active
// controller: one that was paused or cut off believes it leads, and decides on a stale image,
// until it hears of the newer term. It returns a *NotControllerError if it is not.
func (c *Controller) VerifyLeader(ctx context.Context) error {
	f := c.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }() // raft resolves it, at the latest on Shutdown
	select {
	case <-ctx.Done():
		return fmt.Errorf("meta: verifying leadership: %w", ctx.Err())
	case err := <-done:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrRaftShutdown):
			return ErrClosed
		}
		return c.notController(false)
	}
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

// TransferLeadership hands Raft leadership to another voter (hashicorp/raft picks the most
// up-to-date one) and waits for it, so a controller that is about to stop does not leave the
// quorum without a leader until an election timeout. ErrNotController when this node does not lead.
func (c *Controller) TransferLeadership(ctx context.Context) error {
	if !c.IsActive() {
		return c.notController(false)
	}
	f := c.raft.LeadershipTransfer()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops Raft, the transport and the log store, and closes every Watch channel. Idempotent.
func (c *Controller) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
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
