package harness

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Target is the broker a run measures. Run calls Start once and Stop once,
// Stop even when Start failed.
type Target interface {
	// Name goes into the result as the OMB "driver".
	Name() string
	// Start makes the broker ready and returns its bootstrap addresses.
	Start(ctx context.Context) (bootstrap []string, err error)
	// Stop releases whatever Start started; a target Run did not start
	// (an external cluster) is left running.
	Stop() error
	// PID is the broker's process id so a run can read its CPU time and
	// memory from /proc, or 0 when the broker shares this process or is
	// out of reach.
	PID() int
}

// ProduceOnly is implemented by a target that acknowledges records without
// keeping them (the blackhole). A run against it starts no consumers and
// checks the acknowledgements only.
type ProduceOnly interface {
	ProduceOnly() bool
}

// KfakeTarget is franz-go's in-process fake cluster: a behaviour reference
// and a second opinion, not a performance peer.
type KfakeTarget struct {
	Brokers int
	// DataDir is where kfake writes its segments. Empty means a fresh
	// temporary directory, removed by Stop: on disk, records sit in the
	// page cache as a real broker's do, instead of on this process's heap
	// (a 20 s full-speed run of 1 KiB records holds several GiB there).
	DataDir string
	// InMemory keeps every record on the heap instead (kfake's default).
	InMemory bool
	// Blackhole acknowledges produce requests without storing them:
	// offsets still advance and idempotent sequences are still checked,
	// but there is nothing to consume. What a producer reaches against it
	// is this machine's client-side ceiling.
	Blackhole bool

	cluster *kfake.Cluster
	tempDir string // created by Start, removed by Stop
}

func (t *KfakeTarget) Name() string {
	if t.Blackhole {
		return "blackhole"
	}
	return "kfake"
}

func (t *KfakeTarget) Start(context.Context) ([]string, error) {
	if t.cluster != nil {
		panic("BUG: KfakeTarget started twice")
	}
	// kfake listens on 127.0.0.1 with a kernel-chosen port.
	opts := []kfake.Opt{kfake.NumBrokers(max(1, t.Brokers))}
	switch {
	case t.Blackhole:
		opts = append(opts, kfake.BlackholeProduce()) // stores nothing anywhere
	case t.InMemory:
	case t.DataDir != "":
		opts = append(opts, kfake.DataDir(t.DataDir))
	default:
		dir, err := os.MkdirTemp("", "sluicebench-kfake-")
		if err != nil {
			return nil, fmt.Errorf("start kfake: %w", err)
		}
		t.tempDir = dir
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	t.cluster = c
	return c.ListenAddrs(), nil
}

func (t *KfakeTarget) Stop() error {
	if t.cluster != nil {
		t.cluster.Close()
		t.cluster = nil
	}
	if t.tempDir != "" {
		dir := t.tempDir
		t.tempDir = ""
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove kfake's directory: %w", err)
		}
	}
	return nil
}

func (t *KfakeTarget) PID() int          { return 0 }
func (t *KfakeTarget) ProduceOnly() bool { return t.Blackhole }

// ExternalTarget is a cluster someone else runs: Kafka, Redpanda, a Sluice
// started by hand. ProcessID, when known, lets the report include the
// broker's CPU time and memory (one process only: a single-node cluster).
type ExternalTarget struct {
	Bootstrap []string
	ProcessID int
}

func (t *ExternalTarget) Name() string { return "external" }

func (t *ExternalTarget) Start(context.Context) ([]string, error) {
	if len(t.Bootstrap) == 0 {
		return nil, errors.New("external target: no bootstrap brokers")
	}
	return t.Bootstrap, nil
}

func (t *ExternalTarget) Stop() error { return nil }
func (t *ExternalTarget) PID() int    { return t.ProcessID }
