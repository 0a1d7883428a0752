package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/harness"
)

// Cluster timings: fast enough that a few minutes hold many faults, slow enough that a broker
// built with -race on two shared cores is not fenced by its own scheduling delays.
const (
	sessionTimeoutMs    = 3000 // broker.session.timeout.ms: a silent broker is fenced after this
	heartbeatIntervalMs = 500  // broker.heartbeat.interval.ms
	replicaLagMs        = 5000 // replica.lag.time.max.ms: a follower this far behind leaves the ISR
	nodes               = 3
	startWait           = 90 * time.Second // a -race broker recovering its logs on a loaded machine
	stopWait            = 60 * time.Second // SIGTERM to exit
	requestWait         = 3 * time.Second  // one direct request to one node
)

// ClusterConfig says how to run the three brokers.
type ClusterConfig struct {
	Binary string // the sluice binary
	Dir    string // data directories and logs go under it, one per node
	// ReplicaLagMs overrides replica.lag.time.max.ms (0: replicaLagMs).
	ReplicaLagMs int
	LogLevel     string // the brokers' log.level ("": warn)
	WriteMode    string // the brokers' log.write.mode ("": their default)
	Logf         func(format string, args ...any)
}

// Cluster is three `sluice serve` processes in cluster mode, each behind two toxiproxy proxies:
// one in front of its Kafka listener (advertised.listeners) and one in front of its CONTROLLER
// listener (its controller.quorum.voters entry). Clients and the other brokers reach a node only
// through its proxies, so stopping them cuts every inbound link of that node.
type Cluster struct {
	cfg     ClusterConfig
	api     *toxiproxy.ApiServer
	Nodes   []*Node // Nodes[i] is node.id i+1
	voters  string
	closeMu sync.Mutex
}

// Node is one broker process and its proxies. Its methods are called from one goroutine (the
// nemesis or the test), except the reads of its state under mu.
type Node struct {
	ID        int32
	Dir       string
	KafkaAddr string // the real listener: for requests that must bypass the proxy
	CtrlAddr  string
	ProxyAddr string // the advertised listener: what clients and peers dial
	VoterAddr string

	c       *Cluster
	kafkaPx *toxiproxy.Proxy
	ctrlPx  *toxiproxy.Proxy
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan error // the process's exit status, once
	paused  bool
	cut     string      // "" or the cut mode in force
	direct  *kgo.Client // seeded with KafkaAddr only
}

// StartCluster starts the proxies, then the three brokers, and waits for each to listen.
func StartCluster(cfg ClusterConfig) (*Cluster, error) {
	ports, err := harness.FreeLoopbackPorts(4 * nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, api: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
	var voters []string
	for i := range nodes {
		addr := func(k int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[k*nodes+i])) }
		n := &Node{ID: int32(i + 1), Dir: filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i+1)), c: c,
			KafkaAddr: addr(0), CtrlAddr: addr(1), ProxyAddr: addr(2), VoterAddr: addr(3)}
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return nil, err
		}
		n.kafkaPx = toxiproxy.NewProxy(c.api, fmt.Sprintf("kafka-%d", n.ID), n.ProxyAddr, n.KafkaAddr)
		n.ctrlPx = toxiproxy.NewProxy(c.api, fmt.Sprintf("controller-%d", n.ID), n.VoterAddr, n.CtrlAddr)
		for _, p := range []*toxiproxy.Proxy{n.kafkaPx, n.ctrlPx} {
			if err := p.Start(); err != nil {
				c.Close()
				return nil, fmt.Errorf("proxy %s: %w", p.Name, err)
			}
		}
		if n.direct, err = kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr), kgo.RequestRetries(0)); err != nil {
			c.Close()
			return nil, err
		}
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.VoterAddr))
		c.Nodes = append(c.Nodes, n)
	}
	c.voters = strings.Join(voters, ",")
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Seeds are the advertised (proxied) Kafka addresses, as clients use them.
func (c *Cluster) Seeds() []string {
	var s []string
	for _, n := range c.Nodes {
		s = append(s, n.ProxyAddr)
	}
	return s
}

// Node returns node id.
func (c *Cluster) Node(id int32) *Node { return c.Nodes[id-1] }

// Close stops every process it started (SIGKILL: a test's end, not a fault) and the proxies.
func (c *Cluster) Close() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	for _, n := range c.Nodes {
		n.mu.Lock()
		cmd, done := n.cmd, n.done
		n.mu.Unlock()
		if cmd != nil {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			<-done
		}
		if n.direct != nil {
			n.direct.Close()
		}
		n.kafkaPx.Stop()
		n.ctrlPx.Stop()
	}
}

var listening = regexp.MustCompile(`^sluice: listening on (\S+) `)

// Start runs the node's process and waits for its listening line.
func (n *Node) Start() error {
	cfg := n.c.cfg
	lag := cfg.ReplicaLagMs
	if lag == 0 {
		lag = replicaLagMs
	}
	level := cfg.LogLevel
	if level == "" {
		level = "warn"
	}
	args := []string{"serve", "--admin.listener=", "--log.dirs=" + filepath.Join(n.Dir, "data"), "--log.level=" + level,
		"--node.id=" + strconv.Itoa(int(n.ID)),
		fmt.Sprintf("--listeners=PLAINTEXT://%s,CONTROLLER://%s", n.KafkaAddr, n.CtrlAddr),
		"--advertised.listeners=PLAINTEXT://" + n.ProxyAddr,
		"--controller.quorum.voters=" + n.c.voters,
		"--min.insync.replicas=2", "--default.replication.factor=3",
		"--broker.session.timeout.ms=" + strconv.Itoa(sessionTimeoutMs),
		"--broker.heartbeat.interval.ms=" + strconv.Itoa(heartbeatIntervalMs),
		"--replica.lag.time.max.ms=" + strconv.Itoa(lag),
	}
	if cfg.WriteMode != "" {
		args = append(args, "--log.write.mode="+cfg.WriteMode)
	}
	logFile, err := os.OpenFile(filepath.Join(n.Dir, "sluice.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "---- %s start: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), cfg.Binary, strings.Join(args, " "))
	cmd := exec.Command(cfg.Binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	done := make(chan error, 1)
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		firstSent := false
		for sc.Scan() {
			if !firstSent {
				first <- sc.Text()
				firstSent = true
			}
			fmt.Fprintln(logFile, sc.Text())
		}
		io.Copy(io.Discard, stdout)
		err := cmd.Wait()
		fmt.Fprintf(logFile, "---- %s exit: %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
		logFile.Close()
		done <- err
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done, n.paused = cmd, done, false
	n.mu.Unlock()
	select {
	case line := <-first:
		if listening.FindStringSubmatch(line) == nil {
			n.Kill()
			return fmt.Errorf("node %d: unexpected first line %q (log: %s)", n.ID, line, logFile.Name())
		}
		return nil
	case err := <-done:
		n.mu.Lock()
		n.cmd = nil
		n.mu.Unlock()
		return fmt.Errorf("node %d exited before listening: %v (log: %s)", n.ID, err, filepath.Join(n.Dir, "sluice.log"))
	case <-time.After(startWait):
		n.Kill()
		return fmt.Errorf("node %d did not listen within %v", n.ID, startWait)
	}
}

// Running reports whether the process is up (paused counts as up).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Paused reports whether the process is stopped by SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// Kill sends SIGKILL (kill -9) and reaps the process.
func (n *Node) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd, n.paused = nil, false
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Stop sends SIGTERM (SIGCONT first if paused) and waits for the exit; a non-zero status or no
// exit within stopWait is an error (a broker must shut down cleanly).
func (n *Node) Stop() error {
	n.mu.Lock()
	cmd, done, paused := n.cmd, n.done, n.paused
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if paused {
		n.Resume()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		n.mu.Lock()
		n.cmd = nil
		n.mu.Unlock()
		if err != nil {
			return fmt.Errorf("node %d exited uncleanly after SIGTERM: %v", n.ID, err)
		}
		return nil
	case <-time.After(stopWait):
		n.Kill()
		return fmt.Errorf("node %d did not exit within %v of SIGTERM (killed)", n.ID, stopWait)
	}
}

// Pause sends SIGSTOP: the process keeps its sockets but answers nothing, a full isolation.
func (n *Node) Pause() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && !n.paused {
		n.cmd.Process.Signal(syscall.SIGSTOP)
		n.paused = true
	}
}

// Resume sends SIGCONT.
func (n *Node) Resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.paused {
		n.cmd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
}

// Exited reports, without waiting, whether a process that should be running has exited (a
// crash), and how.
func (n *Node) Exited() (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false, nil
	}
	select {
	case err := <-n.done:
		n.cmd = nil
		return true, err
	default:
		return false, nil
	}
}

// Cut modes. Both act on the victim's proxies only, so only links into the victim break: it
// still reaches the others (an asymmetric partition, in Jepsen's words).
const (
	CutRefuse    = "refuse"    // proxies closed: connections reset, new ones refused
	CutBlackhole = "blackhole" // proxies accept, but no byte passes either way (timeouts)
)

var blackholeToxics = []string{
	`{"name":"blackhole-up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`,
	`{"name":"blackhole-down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
}

// Cut breaks every link into the node (its Kafka and CONTROLLER proxies) in mode.
func (n *Node) Cut(mode string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut != "" {
		return nil
	}
	for _, p := range []*toxiproxy.Proxy{n.kafkaPx, n.ctrlPx} {
		switch mode {
		case CutRefuse:
			p.Stop()
		case CutBlackhole:
			for _, js := range blackholeToxics {
				if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
					return fmt.Errorf("proxy %s: %w", p.Name, err)
				}
			}
		default:
			return fmt.Errorf("BUG: cut mode %q", mode)
		}
	}
	n.cut = mode
	return nil
}

// Heal restores the links Cut broke.
func (n *Node) Heal() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, p := range []*toxiproxy.Proxy{n.kafkaPx, n.ctrlPx} {
		switch n.cut {
		case CutRefuse:
			if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
				errs = append(errs, fmt.Errorf("proxy %s: %w", p.Name, err))
			}
		case CutBlackhole:
			p.Toxics.ResetToxics(context.Background())
		}
	}
	n.cut = ""
	return errors.Join(errs...)
}

// Request sends req to this node's real listener (bypassing its proxy), bounded by requestWait.
func (n *Node) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return n.RequestWithin(ctx, requestWait, req)
}

// RequestWithin is Request bounded by d.
func (n *Node) RequestWithin(ctx context.Context, d time.Duration, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	seeds := n.direct.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("BUG: a direct client without its seed")
	}
	return seeds[0].Request(ctx, req)
}

// LogTail returns the last lines of the node's log, for a failure message.
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(filepath.Join(n.Dir, "sluice.log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
