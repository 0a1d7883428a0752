package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessTarget is `sluice serve` running as a process of its own, so the
// broker's CPU seconds and memory are read from /proc/PID apart from the
// clients'. It listens on 127.0.0.1 with kernel-chosen ports (Kafka and
// admin HTTP) and keeps its data in a temporary directory unless told
// otherwise. This is what `make bench` measures.
type ProcessTarget struct {
	// Binary is a built sluice binary. Empty: Start builds one into a
	// temporary directory (BuildSluice) and Stop removes it; a caller
	// running many workloads builds once and sets this.
	Binary string
	// DataDir is log.dirs. Empty: a fresh temporary directory, removed by
	// Stop.
	DataDir string
	// Listeners is the broker's listeners setting. Empty: one PLAINTEXT
	// listener on 127.0.0.1 with a kernel-chosen port. A cluster node
	// (ClusterTarget) names fixed ports, its CONTROLLER listener among them.
	Listeners string
	// Args are extra `sluice serve` flags, e.g. --log.flush.interval.messages=1.
	Args []string
	// ProfileRates asks the broker to sample mutex contention and blocking
	// (for `make profile`), when the binary knows the settings
	// (ProfileRateKeys); otherwise those profiles stay empty and Start notes
	// why in Notes.
	ProfileRates bool
	// Stderr receives the broker's log. Nil: only its last lines are kept,
	// and quoted when the broker fails.
	Stderr io.Writer

	cmd      *exec.Cmd
	pid      int
	admin    string // "http://127.0.0.1:PORT", or "" when the admin listener is off
	exited   chan struct{}
	waitErr  error // valid once exited is closed
	tail     *tailWriter
	tempDir  string // data directory Start created
	buildDir string // binary directory Start created
	notes    []string
}

// Limits of the process target.
const (
	// processStartTimeout bounds build-free startup: log recovery of an
	// empty directory and binding two ports take milliseconds, so a minute
	// means the broker is stuck.
	processStartTimeout = 60 * time.Second
	// processStopTimeout bounds a clean SIGTERM shutdown (parked requests
	// answered, logs closed) before SIGKILL.
	processStopTimeout = 30 * time.Second
	// stderrTailBytes is how much of the broker's log a failure quotes.
	stderrTailBytes = 8 << 10
	// mutexProfileFraction samples one contention event in this many;
	// blockProfileRateNs samples a blocking event per this many ns blocked.
	// Both as the runtime package suggests for production-like profiling:
	// cheap enough to leave on during a measured run.
	mutexProfileFraction = 10
	blockProfileRateNs   = 10_000
)

// ProfileRateKeys are the `sluice serve` settings that turn on the runtime's
// mutex and block profiling. A binary that does not list them in
// `sluice help serve` is run without them.
var ProfileRateKeys = [2]string{"debug.mutex.profile.fraction", "debug.block.profile.rate"}

// listeningLine is what `sluice serve` prints on stdout once it accepts
// connections (cmd/sluice/serve.go).
var listeningLine = regexp.MustCompile(`^sluice: listening on (\S+) \(node (\d+), data (.+), admin (\S+)\)$`)

func (t *ProcessTarget) Name() string { return "sluice" }

// PID is the broker process's id, 0 before Start or after Stop.
func (t *ProcessTarget) PID() int { return t.pid }

// AdminURL is the broker's admin HTTP base URL (for /debug/pprof/), empty
// before Start.
func (t *ProcessTarget) AdminURL() string { return t.admin }

// Notes are remarks Start made about the process (settings it could not
// apply), for the run's report.
func (t *ProcessTarget) Notes() []string { return t.notes }

func (t *ProcessTarget) Start(ctx context.Context) ([]string, error) {
	if t.cmd != nil {
		panic("BUG: ProcessTarget started twice")
	}
	bin := t.Binary
	if bin == "" {
		dir, err := os.MkdirTemp("", "sluicebench-bin-")
		if err != nil {
			return nil, fmt.Errorf("start sluice: %w", err)
		}
		t.buildDir = dir
		if bin, err = BuildSluice(ctx, dir, false); err != nil {
			return nil, fmt.Errorf("start sluice: %w", err)
		}
	}
	dataDir := t.DataDir
	if dataDir == "" {
		d, err := os.MkdirTemp("", "sluicebench-data-")
		if err != nil {
			return nil, fmt.Errorf("start sluice: %w", err)
		}
		t.tempDir, dataDir = d, d
	}
	listeners := t.Listeners
	if listeners == "" {
		listeners = "PLAINTEXT://127.0.0.1:0"
	}
	args := []string{"serve",
		"--listeners=" + listeners,
		"--admin.listener=127.0.0.1:0",
		"--log.dirs=" + dataDir,
		"--log.level=warn",
	}
	if t.ProfileRates {
		if ok, err := binaryKnows(ctx, bin, ProfileRateKeys[:]...); err != nil || !ok {
			t.notes = append(t.notes, fmt.Sprintf("the broker binary has no %s settings: mutex and block profiles are empty", strings.Join(ProfileRateKeys[:], "/")))
		} else {
			args = append(args,
				fmt.Sprintf("--%s=%d", ProfileRateKeys[0], mutexProfileFraction),
				fmt.Sprintf("--%s=%d", ProfileRateKeys[1], blockProfileRateNs))
		}
	}
	args = append(args, t.Args...)

	cmd := exec.Command(bin, args...)
	// If this process dies without Stop (a benchmark killed, a test timing out), the broker goes
	// with it instead of holding its ports and data directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	t.tail = &tailWriter{max: stderrTailBytes}
	cmd.Stderr = t.tail
	if t.Stderr != nil {
		cmd.Stderr = io.MultiWriter(t.tail, t.Stderr)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	t.cmd, t.pid, t.exited = cmd, cmd.Process.Pid, make(chan struct{})

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() { // read to the end so the broker never blocks on a full pipe
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
		t.waitErr = cmd.Wait()
		close(t.exited)
	}()

	timer := time.NewTimer(processStartTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-lines:
		m := listeningLine.FindStringSubmatch(line)
		if !ok || m == nil {
			exit := "still running"
			select {
			case <-t.exited:
				exit = fmt.Sprint("exited: ", t.waitErr)
			case <-time.After(2 * time.Second): // Stop ends it
			}
			return nil, fmt.Errorf("start sluice: expected its listening line, got %q (%s); log tail:\n%s", line, exit, t.tail)
		}
		if m[4] != "off" {
			t.admin = m[4]
		}
		return []string{m[1]}, nil
	case <-timer.C:
		return nil, fmt.Errorf("start sluice: no listening line within %s; log tail:\n%s", processStartTimeout, t.tail)
	case <-ctx.Done():
		return nil, fmt.Errorf("start sluice: %w", ctx.Err())
	}
}

// Stop sends SIGTERM and waits for a clean exit; after processStopTimeout it
// kills the broker and says so. A non-zero exit status is an error: a broker
// that cannot shut down cleanly after a benchmark has a bug worth seeing.
func (t *ProcessTarget) Stop() error {
	var errs []error
	if t.cmd != nil {
		select {
		case <-t.exited:
			errs = append(errs, fmt.Errorf("sluice (pid %d) had exited before Stop: %v; log tail:\n%s", t.pid, t.waitErr, t.tail))
		default:
			if err := t.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				errs = append(errs, fmt.Errorf("SIGTERM sluice (pid %d): %w", t.pid, err))
			}
			select {
			case <-t.exited:
				if t.waitErr != nil {
					errs = append(errs, fmt.Errorf("sluice (pid %d) exited uncleanly: %v; log tail:\n%s", t.pid, t.waitErr, t.tail))
				}
			case <-time.After(processStopTimeout):
				_ = t.cmd.Process.Kill()
				<-t.exited
				errs = append(errs, fmt.Errorf("sluice (pid %d) did not stop within %s of SIGTERM and was killed; log tail:\n%s", t.pid, processStopTimeout, t.tail))
			}
		}
		t.cmd, t.pid, t.admin = nil, 0, ""
	}
	for _, d := range []*string{&t.tempDir, &t.buildDir} {
		if *d != "" {
			if err := os.RemoveAll(*d); err != nil {
				errs = append(errs, err)
			}
			*d = ""
		}
	}
	return errors.Join(errs...)
}

// Kill ends the broker with SIGKILL — a crash: no clean-shutdown marker, the
// next start recovers its logs — and waits for the process to be gone. The
// data directory stays (Stop removes one Start created); Start may run again.
func (t *ProcessTarget) Kill() error {
	if t.cmd == nil {
		return errors.New("kill sluice: not running")
	}
	err := t.cmd.Process.Kill()
	<-t.exited
	t.cmd, t.pid, t.admin = nil, 0, ""
	if err != nil {
		return fmt.Errorf("kill sluice: %w", err)
	}
	return nil
}

// BuildSluice builds cmd/sluice into dir and returns the binary's path. It
// finds the module from the working directory (go env GOMOD), so it works
// from anywhere inside the repository. race builds with the race detector
// (tests running under -race share its build cache that way).
func BuildSluice(ctx context.Context, dir string, race bool) (string, error) {
	goTool := goToolPath()
	out, err := exec.CommandContext(ctx, goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("build sluice: not inside the sluice module (go env GOMOD is empty)")
	}
	bin := filepath.Join(dir, "sluice")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/sluicemq/sluice/cmd/sluice")
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/sluice: %w\n%s", err, out)
	}
	return bin, nil
}

// goToolPath is the go command: on PATH, else the one that built this
// binary (a test run by an IDE may have a bare PATH).
func goToolPath() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// binaryKnows reports whether `bin help serve` lists every one of keys.
func binaryKnows(ctx context.Context, bin string, keys ...string) (bool, error) {
	out, err := exec.CommandContext(ctx, bin, "help", "serve").Output()
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(k) + `\s`).Match(out) {
			return false, nil
		}
	}
	return true, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = w.buf[over:]
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 { // start at a whole line
			w.buf = w.buf[i+1:]
		}
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
