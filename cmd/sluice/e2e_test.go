package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestServeBinary builds the sluice binary and runs it as an operator would, with the real
// engine/broker: random ports, the listening line on stdout, a record produced through a real
// client (which also proves the advertised address is the bound one), SIGTERM, exit status 0;
// then a second run on the same data directory finds the record.
func TestServeBinary(t *testing.T) {
	bin := buildSluice(t)
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), 4*testTimeout)
	defer cancel()

	p := startSluice(t, bin, "--log.dirs="+data, "--num.partitions=1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "e2e", Value: []byte("survives a restart")}).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if status, _, body := get(t, p.adminURL+"/healthz"); status != 200 || body != "ok" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	_, _, metrics := get(t, p.adminURL+"/metrics")
	if !strings.Contains(metrics, "\nsluice_network_requests_total ") || strings.Contains(metrics, "\nsluice_network_requests_total 0\n") {
		t.Errorf("/metrics: netio counted no requests:\n%s", metrics)
	}
	if !strings.Contains(metrics, "\nsluice_topic_records_in_total{topic=\"e2e\"} 1\n") {
		t.Errorf("/metrics: the broker's metrics lack the produced record:\n%s", metrics)
	}
	p.stop(t)

	p = startSluice(t, bin, "--log.dirs="+data)
	cl, err = kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"e2e": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	fetches := cl.PollRecords(ctx, 1)
	cl.Close()
	if err := fetches.Err(); err != nil {
		t.Fatalf("consume: %v", err)
	}
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Value) != "survives a restart" || recs[0].Offset != 0 {
		t.Fatalf("consumed %v", recs)
	}
	p.stop(t)
}

// TestServeBinaryDirectModeProcs: log.write.mode=direct runs the broker with one Go processor
// more than buffered mode does (writeBehindProcs), unless the GOMAXPROCS environment variable is
// set; /metrics reports the setting in force.
func TestServeBinaryDirectModeProcs(t *testing.T) {
	bin := buildSluice(t)
	procs := func(gomaxprocs string, args ...string) int {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"serve", "--listeners=PLAINTEXT://127.0.0.1:0",
			"--admin.listener=127.0.0.1:0", "--log.dirs=" + filepath.Join(t.TempDir(), "data")}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOMAXPROCS=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		if gomaxprocs != "" {
			cmd.Env = append(cmd.Env, "GOMAXPROCS="+gomaxprocs)
		}
		p := startSluiceCmd(t, cmd)
		defer p.stop(t)
		_, _, metrics := get(t, p.adminURL+"/metrics")
		m := regexp.MustCompile(`(?m)^go_sched_gomaxprocs_threads (\d+)$`).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("/metrics has no go_sched_gomaxprocs_threads:\n%s", metrics)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	buffered := procs("", "--log.write.mode=buffered")
	if direct := procs("", "--log.write.mode=direct"); direct != buffered+1 {
		t.Errorf("GOMAXPROCS %d in direct mode, %d in buffered mode: want one more", direct, buffered)
	}
	if chosen := procs("1", "--log.write.mode=direct"); chosen != 1 {
		t.Errorf("GOMAXPROCS %d in direct mode with GOMAXPROCS=1 in the environment", chosen)
	}
}

// TestServeBinaryFetchPath: fetch.path picks how record data leaves segment files, and
// /metrics shows which did: with sendfile, bytes of a consumer's fetches are counted under
// path="sendfile"; with the default (copy), none are.
func TestServeBinaryFetchPath(t *testing.T) {
	bin := buildSluice(t)
	sentWith := func(args ...string) (sendfileBytes int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 4*testTimeout)
		defer cancel()
		p := startSluice(t, bin, append([]string{"--log.dirs=" + filepath.Join(t.TempDir(), "data"), "--num.partitions=1"}, args...)...)
		defer p.stop(t)
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr), kgo.AllowAutoTopicCreation(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fp": {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		const n = 256
		value := bytes.Repeat([]byte{'f'}, 4<<10)
		for i := range n {
			cl.Produce(ctx, &kgo.Record{Topic: "fp", Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %d: %v", i, err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < n; {
			fetches := cl.PollFetches(ctx)
			if err := fetches.Err(); err != nil {
				t.Fatalf("consume: %v", err)
			}
			fetches.EachRecord(func(r *kgo.Record) {
				if r.Offset != int64(got) || !bytes.Equal(r.Value, value) {
					t.Fatalf("record %d: offset %d, %d bytes", got, r.Offset, len(r.Value))
				}
				got++
			})
		}
		_, _, metrics := get(t, p.adminURL+"/metrics")
		m := regexp.MustCompile(`(?m)^sluice_network_bytes_out_total\{path="sendfile"\} (\d+)$`).FindStringSubmatch(metrics)
		if m == nil {
			return 0
		}
		v, _ := strconv.Atoi(m[1])
		return v
	}
	// Not all of it: sendfile sends until the socket is full and pread+write finishes the region.
	if got := sentWith("--fetch.path=sendfile"); got == 0 {
		t.Error("fetch.path=sendfile: no bytes sent with sendfile")
	}
	if got := sentWith(); got != 0 {
		t.Errorf("default fetch.path: %d bytes sent with sendfile, want 0 (copy)", got)
	}
}

// buildSluice builds ./cmd/sluice into a temporary directory.
func buildSluice(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the end-to-end test builds the binary and needs the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// sluiceProcess is a running `sluice serve`.
type sluiceProcess struct {
	cmd                 *exec.Cmd
	lines               chan string // stdout lines after the listening line; closed at EOF
	exited              chan struct{}
	kafkaAddr, adminURL string
	stderr              *lockedBuffer
	listening           string // the listening line
}

// startSluice runs `sluice serve` on random ports with extra args and waits for its listening
// line. The process is killed at the end of the test if it is still running; its stderr is logged
// if the test failed.
func startSluice(t *testing.T, bin string, args ...string) *sluiceProcess {
	t.Helper()
	args = append([]string{"serve", "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=127.0.0.1:0"}, args...)
	return startSluiceCmd(t, exec.Command(bin, args...))
}

// startSluiceCmd starts cmd, a `sluice serve` (with its directory and environment set as the
// test needs), and waits for its listening line, as startSluice does.
func startSluiceCmd(t *testing.T, cmd *exec.Cmd) *sluiceProcess {
	t.Helper()
	args := cmd.Args[1:]
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sluiceProcess{cmd: cmd, lines: make(chan string, 16), exited: make(chan struct{}), stderr: stderr}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("sluice %s stderr:\n%s", strings.Join(args, " "), stderr.String())
		}
	})

	select {
	case line, ok := <-p.lines:
		m := listeningLine.FindStringSubmatch(line)
		if !ok || m == nil {
			t.Fatalf("first stdout line %q (eof %v), want the listening line", line, !ok)
		}
		p.kafkaAddr, p.adminURL, p.listening = m[1], m[4], line
	case <-time.After(testTimeout):
		t.Fatal("no listening line")
	}
	return p
}

// stop sends SIGTERM and checks that the process exits with status 0 without printing more.
func (p *sluiceProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var more []string
	deadline := time.After(testTimeout)
	for open := true; open; {
		select {
		case l, ok := <-p.lines:
			if open = ok; ok {
				more = append(more, l)
			}
		case <-deadline:
			t.Fatal("sluice did not exit after SIGTERM")
		}
	}
	err := p.cmd.Wait() // stdout is at EOF, so Wait does not block on its copy
	close(p.exited)
	if err != nil {
		t.Fatalf("sluice exited with %v after SIGTERM, want status 0", err)
	}
	if len(more) > 0 {
		t.Errorf("stdout after the listening line: %q", more)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
