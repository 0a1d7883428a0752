package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TargetCluster names ClusterTarget in a matrix.
const TargetCluster = "sluice-cluster"

// ClusterTarget is a replicated Sluice cluster on this machine: Nodes
// `sluice serve` processes in cluster mode, every one a Raft voter (KRaft's
// combined mode), topics created with the broker default replication factor
// of Nodes and min.insync.replicas of 2 — what issue 6's RF=3 benchmark
// measures against the single-node ProcessTarget.
//
// All nodes share the machine's two cores with the clients, so a cluster
// run measures the cost of replication (three copies written, followers
// fetching) on the same hardware, not a cluster's scale-out.
type ClusterTarget struct {
	// Binary is a built sluice binary (required: a cluster starts several
	// processes of one build).
	Binary string
	// Nodes is the number of brokers; 0 means 3.
	Nodes int
	// Args are extra `sluice serve` flags for every node.
	Args []string
	// Stderr receives every node's log; nil keeps only their tails.
	Stderr io.Writer

	nodes   []*ProcessTarget
	dataDir string // parent of the nodes' log.dirs, removed by Stop
	addrs   []string
}

// clusterReadyTimeout bounds how long the nodes may take to elect a Raft
// leader and register with it; seconds on an idle machine.
const clusterReadyTimeout = 90 * time.Second

func (t *ClusterTarget) Name() string { return TargetCluster }

// PID is 0: the broker is several processes (PIDs lists them).
func (t *ClusterTarget) PID() int { return 0 }

// PIDs are the running nodes' process ids; a run sums their CPU time and
// memory as the broker's.
func (t *ClusterTarget) PIDs() []int {
	var ps []int
	for _, n := range t.nodes {
		if pid := n.PID(); pid != 0 {
			ps = append(ps, pid)
		}
	}
	return ps
}

func (t *ClusterTarget) size() int {
	if t.Nodes <= 0 {
		return 3
	}
	return t.Nodes
}

// Start picks ports, starts every node at once (each waits for the Raft
// quorum, so one at a time would never finish), and returns when Metadata
// lists every broker.
func (t *ClusterTarget) Start(ctx context.Context) ([]string, error) {
	if t.nodes != nil {
		panic("BUG: ClusterTarget started twice")
	}
	if t.Binary == "" {
		return nil, errors.New("start sluice cluster: no binary (build one with BuildSluice)")
	}
	n := t.size()
	ports, err := FreeLoopbackPorts(2 * n)
	if err != nil {
		return nil, fmt.Errorf("start sluice cluster: %w", err)
	}
	if t.dataDir, err = os.MkdirTemp("", "sluicebench-cluster-"); err != nil {
		return nil, fmt.Errorf("start sluice cluster: %w", err)
	}
	var voters []string
	for i := range n {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[n+i]))
	}
	for i := range n {
		args := []string{
			"--node.id=" + strconv.Itoa(i+1),
			"--controller.quorum.voters=" + strings.Join(voters, ","),
			"--default.replication.factor=" + strconv.Itoa(n),
			"--min.insync.replicas=" + strconv.Itoa(min(2, n)),
		}
		t.nodes = append(t.nodes, &ProcessTarget{
			Binary:    t.Binary,
			DataDir:   fmt.Sprintf("%s/node-%d", t.dataDir, i+1),
			Listeners: fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", ports[i], ports[n+i]),
			Args:      append(args, t.Args...),
			Stderr:    t.Stderr,
		})
		t.addrs = append(t.addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, node := range t.nodes {
		wg.Go(func() { _, errs[i] = node.Start(ctx) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("start sluice cluster: %w", err)
	}
	if err := t.waitRegistered(ctx); err != nil {
		return nil, fmt.Errorf("start sluice cluster: %w", err)
	}
	return append([]string(nil), t.addrs...), nil
}

// waitRegistered polls Metadata until it lists every node: then the
// controller has them registered and unfenced, and topic creation can place
// replicas on all of them.
func (t *ClusterTarget) waitRegistered(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(clusterReadyTimeout)
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case len(resp.Brokers) == t.size() && resp.ControllerID > 0:
			return nil
		default:
			last = fmt.Sprintf("%d of %d brokers registered, controller %d", len(resp.Brokers), t.size(), resp.ControllerID)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready within %s: %s", clusterReadyTimeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Node is broker id's process (ids count from 1).
func (t *ClusterTarget) Node(id int32) *ProcessTarget { return t.nodes[id-1] }

// Bootstrap is every node's Kafka address.
func (t *ClusterTarget) Bootstrap() []string { return append([]string(nil), t.addrs...) }

// Stop stops every node (SIGTERM, clean shutdown) and removes the data.
func (t *ClusterTarget) Stop() error {
	var errs []error
	for _, n := range t.nodes {
		if n.PID() != 0 {
			errs = append(errs, n.Stop())
		}
	}
	t.nodes = nil
	if t.dataDir != "" {
		errs = append(errs, os.RemoveAll(t.dataDir))
		t.dataDir = ""
	}
	return errors.Join(errs...)
}

// FreeLoopbackPorts returns n distinct ports on 127.0.0.1 that were free a
// moment ago. A cluster needs its ports before it starts: every voter's
// address is in every node's configuration.
func FreeLoopbackPorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
