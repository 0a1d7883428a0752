package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Reference figures: what this machine can do at all, measured in the same
// sitting as the broker runs so a result reads as a fraction of the physical
// limit on whatever machine produced it.

// Reference is the machine's measured limits.
type Reference struct {
	// DiskDir is where the write test ran: the file system brokers' data
	// directories are on.
	DiskDir   string `json:"diskDir"`
	DiskBytes int64  `json:"diskBytes"`
	// DiskWriteMiBPerSec is sequential write(2) of DiskBytes in 1 MiB
	// blocks into the page cache: what an append path with default
	// durability (Kafka's, Sluice's) is bounded by.
	DiskWriteMiBPerSec float64 `json:"diskWriteMiBPerSec"`
	// DiskWriteFsyncMiBPerSec is the same bytes with the final fsync
	// included: the device's sequential bandwidth, roughly.
	DiskWriteFsyncMiBPerSec float64 `json:"diskWriteFsyncMiBPerSec"`

	// LoopbackMiBPerSec is one TCP stream over 127.0.0.1, 1 MiB writes,
	// the reader discarding.
	LoopbackMiBPerSec float64 `json:"loopbackMiBPerSec"`
	// LoopbackCPUSecondsPerGiB is both ends' CPU per GiB moved: the floor
	// under any broker's CPU per byte received over loopback.
	LoopbackCPUSecondsPerGiB float64 `json:"loopbackCpuSecondsPerGiB"`
	LoopbackSeconds          float64 `json:"loopbackSeconds"`
}

// ReferenceSpec sizes the reference measurements.
type ReferenceSpec struct {
	DiskDir      string        // empty: os.TempDir()
	DiskBytes    int64         // 0: 1 GiB
	LoopbackTime time.Duration // 0: 2 s
}

// referenceBlockBytes is the write size of both tests: large enough that
// per-call overhead is noise, as a broker writes whole batches.
const referenceBlockBytes = 1 << 20

// MeasureReference runs the disk, then the loopback test.
func MeasureReference(ctx context.Context, spec ReferenceSpec) (*Reference, error) {
	if spec.DiskDir == "" {
		spec.DiskDir = os.TempDir()
	}
	if spec.DiskBytes == 0 {
		spec.DiskBytes = 1 << 30
	}
	if spec.LoopbackTime == 0 {
		spec.LoopbackTime = 2 * time.Second
	}
	ref := &Reference{DiskDir: spec.DiskDir, DiskBytes: spec.DiskBytes}
	var err error
	ref.DiskWriteMiBPerSec, ref.DiskWriteFsyncMiBPerSec, err = MeasureDiskWrite(spec.DiskDir, spec.DiskBytes)
	if err != nil {
		return nil, err
	}
	ref.LoopbackMiBPerSec, ref.LoopbackCPUSecondsPerGiB, err = MeasureLoopback(ctx, spec.LoopbackTime)
	if err != nil {
		return nil, err
	}
	ref.LoopbackSeconds = spec.LoopbackTime.Seconds()
	return ref, nil
}

// MeasureDiskWrite writes n bytes sequentially to a new file in dir, in
// 1 MiB blocks, and returns MiB/s up to the last write (page cache) and up
// to the end of the fsync that follows (device). The file is removed.
func MeasureDiskWrite(dir string, n int64) (bufferedMiBPerSec, durableMiBPerSec float64, err error) {
	f, err := os.CreateTemp(dir, "sluicebench-diskref-")
	if err != nil {
		return 0, 0, fmt.Errorf("disk reference: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, referenceBlockBytes)
	for i := range block {
		block[i] = byte(i * 7) // not zeros: no file system may elide them
	}
	start := time.Now()
	var written int64
	for written < n {
		k, err := f.Write(block[:min(int64(len(block)), n-written)])
		if err != nil {
			return 0, 0, fmt.Errorf("disk reference: %w", err)
		}
		written += int64(k)
	}
	buffered := time.Since(start)
	if err := f.Sync(); err != nil {
		return 0, 0, fmt.Errorf("disk reference: %w", err)
	}
	durable := time.Since(start)
	return mib(written) / buffered.Seconds(), mib(written) / durable.Seconds(), nil
}

// MeasureLoopback streams 1 MiB writes over one TCP connection on 127.0.0.1
// for d and returns MiB/s and the CPU seconds per GiB this process spent,
// both ends included.
func MeasureLoopback(ctx context.Context, d time.Duration) (mibPerSec, cpuSecondsPerGiB float64, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("loopback reference: %w", err)
	}
	defer ln.Close()

	var received int64
	var wg sync.WaitGroup
	var readErr error
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			readErr = err
			return
		}
		defer c.Close()
		buf := make([]byte, referenceBlockBytes)
		for {
			k, err := c.Read(buf)
			received += int64(k)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
		}
	})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, 0, fmt.Errorf("loopback reference: %w", err)
	}
	block := make([]byte, referenceBlockBytes)
	before, err := readProc(0)
	if err != nil {
		c.Close()
		return 0, 0, err
	}
	start := time.Now()
	deadline := start.Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := c.Write(block); err != nil {
			c.Close()
			return 0, 0, fmt.Errorf("loopback reference: %w", err)
		}
	}
	c.Close()
	wg.Wait()
	elapsed := time.Since(start)
	after, err := readProc(0)
	if err != nil {
		return 0, 0, err
	}
	if readErr != nil {
		return 0, 0, fmt.Errorf("loopback reference: %w", readErr)
	}
	gib := float64(received) / (1 << 30)
	return mib(received) / elapsed.Seconds(), (after.cpu - before.cpu).Seconds() / gib, nil
}

// Machine identifies where a suite ran.
type Machine struct {
	NProc      int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Model      string `json:"model"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"goVersion"`
	MemoryMiB  int64  `json:"memoryMiB"`
	Load1      string `json:"load1"` // 1-minute load average as the suite started
}

// ReadMachine reads the machine line from /proc and the runtime.
func ReadMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kib); err == nil {
			m.MemoryMiB = kib >> 10
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1 = f[0]
		}
	}
	return m
}

// String is the machine line results quote.
func (m Machine) String() string {
	return fmt.Sprintf("%d × %s (nproc %d, GOMAXPROCS %d), %d MiB, Linux %s, %s, load %s at start",
		m.NProc, m.Model, m.NProc, m.GOMAXPROCS, m.MemoryMiB, m.Kernel, m.GoVersion, m.Load1)
}

// GitCommit is HEAD's short hash and whether the work tree differs from it;
// "unknown" outside a git checkout.
func GitCommit() (commit string, dirty bool) {
	out, err := exec.Command("git", "rev-parse", "--short=7", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	commit = strings.TrimSpace(string(out))
	st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	return commit, err == nil && len(bytes.TrimSpace(st)) > 0
}
