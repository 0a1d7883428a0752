//go:build compat

package compat

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluiceBinary builds ./cmd/sluice once per test run, with -race so data races in the broker
// fail the suite.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-compat-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/sluice").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var listening = regexp.MustCompile(`^sluice: listening on (\S+) .*admin (\S+)\)$`)

// broker is one `sluice serve` process.
type broker struct {
	t     *testing.T
	dir   string
	addr  string
	admin string // the admin listener's URL, "off" when disabled
	cmd   *exec.Cmd
	done  chan error
}

func startBroker(t *testing.T, dir string, flags ...string) *broker {
	t.Helper()
	return startServe(t, dir, append([]string{"--listeners=PLAINTEXT://127.0.0.1:0"}, flags...)...)
}

// startServe runs `sluice serve` with flags (which must include --listeners) on data directory dir.
func startServe(t *testing.T, dir string, flags ...string) *broker {
	t.Helper()
	args := append([]string{"serve", "--admin.listener=", "--log.dirs=" + dir, "--log.level=warn"}, flags...)
	cmd := exec.Command(sluiceBinary(t), args...)
	// A test binary killed by its timeout takes its brokers with it (no orphans holding ports).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, dir: dir, cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() { b.kill() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		b.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		m := listening.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unexpected first line from sluice: %q", line)
		}
		b.addr, b.admin = m[1], m[2]
	case err := <-b.done:
		t.Fatalf("sluice exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("sluice did not print its listening line within 60 s")
	}
	return b
}

// stop sends SIGTERM and requires a clean exit (status 0).
func (b *broker) stop() {
	b.t.Helper()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-b.done:
		b.cmd = nil
		if err != nil {
			b.t.Fatalf("sluice exited uncleanly after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		b.kill()
		b.t.Fatal("sluice did not stop within 60 s of SIGTERM")
	}
}

func (b *broker) kill() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Kill()
		<-b.done
		b.cmd = nil
	}
}

func (b *broker) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

func run(t *testing.T, stdin *os.File, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, errb.String())
	}
	return out
}
