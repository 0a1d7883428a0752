package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/engine/broker"
	"github.com/sluicemq/sluice/netio"
)

// testTimeout bounds every wait in these tests, so a bug fails a test instead of hanging it.
const testTimeout = 10 * time.Second

// listeningLine is serve's one line on stdout.
var listeningLine = regexp.MustCompile(`^sluice: listening on (\S+) \(node (\d+), data (.+), admin (\S+)\)$`)

// fakeBroker stands in for engine/broker: it answers every request with a two-byte body.
type fakeBroker struct {
	cfg broker.Config

	mu               sync.Mutex
	requests         int
	closed           int
	retentionCheckMs int64
	closeErr         error
}

// SetAdvertisedAddr records the port serve learned from the listener (port 0).
func (f *fakeBroker) SetAdvertisedAddr(host string, port int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg.AdvertisedHost, f.cfg.AdvertisedPort = host, port
}

func (f *fakeBroker) ServeKafka(req *netio.Request, w netio.ResponseWriter) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	w.Respond(netio.Part{Bytes: []byte{0xbe, 0xef}})
}

func (f *fakeBroker) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return f.closeErr
}

func (f *fakeBroker) SetRetentionCheckInterval(ms int64) { f.retentionCheckMs = ms }

var descFakeRequests = prometheus.NewDesc("sluice_fake_requests_total", "Requests.", nil, nil)

func (f *fakeBroker) Describe(ch chan<- *prometheus.Desc) { ch <- descFakeRequests }

func (f *fakeBroker) Collect(ch chan<- prometheus.Metric) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descFakeRequests, prometheus.CounterValue, float64(f.requests))
}

func (f *fakeBroker) closedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// serveRun is one serve call running in the background.
type serveRun struct {
	fake   *fakeBroker
	lines  chan string // stdout lines; closed when serve has returned
	done   chan error  // serve's result
	cancel context.CancelFunc
}

func startServe(t *testing.T, args []string, openErr error) *serveRun {
	t.Helper()
	cfg, _, err := loadServeConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &serveRun{fake: &fakeBroker{}, lines: make(chan string, 4), done: make(chan error, 1), cancel: cancel}
	open := func(c broker.Config) (kafkaBroker, error) {
		if openErr != nil {
			return nil, openErr
		}
		r.fake.cfg = c
		return r.fake, nil
	}
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		err := serve(ctx, cfg, open, pw, logger)
		pw.Close()
		r.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(testTimeout):
			t.Error("serve did not return")
		}
	})
	return r
}

// wait returns serve's result and its stdout lines.
func (r *serveRun) wait(t *testing.T) ([]string, error) {
	t.Helper()
	var lines []string
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				select {
				case err := <-r.done:
					r.done <- err // for the cleanup
					return lines, err
				case <-time.After(testTimeout):
					t.Fatal("serve did not return")
				}
			}
			lines = append(lines, l)
		case <-time.After(testTimeout):
			t.Fatal("serve did not return")
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// TestServe runs serve in process with a fake broker: the listening line, a Kafka frame through
// netio to the broker and back, the admin endpoints, and a clean stop.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	r := startServe(t, []string{
		"--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=127.0.0.1:0", "--log.dirs=" + dir,
		"--node.id=3", "--log.retention.check.interval.ms=1000",
	}, nil)

	var line string
	select {
	case line = <-r.lines:
	case err := <-r.done:
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("no listening line")
	}
	m := listeningLine.FindStringSubmatch(line)
	if m == nil || m[2] != "3" || m[3] != dir || !strings.HasPrefix(m[4], "http://127.0.0.1:") {
		t.Fatalf("listening line %q", line)
	}
	kafkaAddr, adminURL := m[1], m[4]
	_, port, _ := net.SplitHostPort(kafkaAddr)
	if got := fmt.Sprint(r.fake.cfg.AdvertisedPort); got != port || r.fake.cfg.AdvertisedHost != "127.0.0.1" {
		t.Errorf("advertised %s:%d, listening on %s", r.fake.cfg.AdvertisedHost, r.fake.cfg.AdvertisedPort, kafkaAddr)
	}
	if r.fake.cfg.LogDir != dir || r.fake.cfg.NodeID != 3 || r.fake.cfg.Logger == nil {
		t.Errorf("broker config %+v", r.fake.cfg)
	}
	if r.fake.retentionCheckMs != 1000 {
		t.Errorf("retention check interval %d ms, want 1000", r.fake.retentionCheckMs)
	}

	// ApiVersions v0: request header v1, no body. netio prefixes the answer with size and
	// correlation id.
	conn, err := net.DialTimeout("tcp", kafkaAddr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	req := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0x12, 0x34, 0xff, 0xff}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 10)
	if _, err := io.ReadFull(conn, resp); err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(resp) != 6 || binary.BigEndian.Uint32(resp[4:]) != 0x1234 || resp[8] != 0xbe || resp[9] != 0xef {
		t.Fatalf("response % x", resp)
	}

	if status, _, body := get(t, adminURL+"/healthz"); status != 200 || body != "ok" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	_, _, metrics := get(t, adminURL+"/metrics")
	for _, want := range []string{"\nsluice_network_requests_total 1\n", "\nsluice_network_connections_open 1\n",
		"\nsluice_network_bytes_in_total 14\n", "\nsluice_fake_requests_total 1\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", strings.TrimSpace(want), metrics)
		}
	}

	r.cancel()
	lines, err := r.wait(t)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	if len(lines) != 0 {
		t.Errorf("more stdout after the listening line: %q", lines)
	}
	if n := r.fake.closedCount(); n != 1 {
		t.Errorf("broker closed %d times", n)
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("Kafka connection still open after stop")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(adminURL, "http://"), time.Second); err == nil {
		c.Close()
		t.Error("admin listener still accepting after stop")
	}
}

// A failed start stops what was started, closes the broker and prints nothing on stdout.
func TestServeStartFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	for _, tc := range []struct {
		name       string
		args       []string
		openErr    error
		wantErr    string
		wantClosed int
	}{
		{
			name:    "broker does not open",
			args:    []string{"--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener="},
			openErr: errors.New("disk on fire"), wantErr: "opening broker: disk on fire",
		},
		{
			name:    "Kafka port taken",
			args:    []string{"--listeners=PLAINTEXT://" + taken.Addr().String(), "--admin.listener="},
			wantErr: "listeners: ", wantClosed: 1,
		},
		{
			name:    "admin port taken",
			args:    []string{"--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=" + taken.Addr().String()},
			wantErr: "admin.listener " + taken.Addr().String(), wantClosed: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startServe(t, append(tc.args, "--log.dirs="+t.TempDir()), tc.openErr)
			lines, err := r.wait(t)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if len(lines) != 0 {
				t.Errorf("stdout %q", lines)
			}
			if n := r.fake.closedCount(); n != tc.wantClosed {
				t.Errorf("broker closed %d times, want %d", n, tc.wantClosed)
			}
		})
	}
}

// An error from the broker's Close makes serve fail (exit status 1).
func TestServeCloseError(t *testing.T) {
	r := startServe(t, []string{"--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=", "--log.dirs=" + t.TempDir()}, nil)
	r.fake.mu.Lock()
	r.fake.closeErr = errors.New("fsync failed")
	r.fake.mu.Unlock()
	select {
	case line := <-r.lines:
		if m := listeningLine.FindStringSubmatch(line); m == nil || m[4] != "off" {
			t.Fatalf("listening line %q", line)
		}
	case <-time.After(testTimeout):
		t.Fatal("no listening line")
	}
	r.cancel()
	if _, err := r.wait(t); err == nil || !strings.Contains(err.Error(), "closing broker: fsync failed") {
		t.Fatalf("serve: %v", err)
	}
}

// A cluster node answers netio's in-place question as the broker it wraps does: Produce v3+ in
// place, everything else copied.
func TestClusterBrokerServesInPlace(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.LogDir = t.TempDir()
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &clusterBroker{kafkaBroker: b}
	if !c.ServesInPlace(0, 9) || c.ServesInPlace(0, 2) || c.ServesInPlace(1, 12) {
		t.Fatalf("in place: produce v9 %v, produce v2 %v, fetch v12 %v; want true, false, false",
			c.ServesInPlace(0, 9), c.ServesInPlace(0, 2), c.ServesInPlace(1, 12))
	}
}

// TestDumpStacksIfSlow: a stop slower than the limit writes every goroutine's stack; a stop in
// time writes nothing.
func TestDumpStacksIfSlow(t *testing.T) {
	var slow strings.Builder
	dumpStacksIfSlow(make(chan struct{}), 10*time.Millisecond, &slow, slog.New(slog.DiscardHandler))
	if !strings.Contains(slow.String(), "goroutine ") || !strings.Contains(slow.String(), "TestDumpStacksIfSlow") {
		t.Errorf("slow stop: the dump lacks the goroutines' stacks:\n%.500s", slow.String())
	}
	var quick strings.Builder
	stopped := make(chan struct{})
	close(stopped)
	dumpStacksIfSlow(stopped, time.Hour, &quick, slog.New(slog.DiscardHandler))
	if quick.Len() != 0 {
		t.Errorf("stop in time: wrote %d bytes", quick.Len())
	}
}
