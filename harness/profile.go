package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Profiles of a broker process under a workload (`make profile`): CPU over
// the measured window, then heap, allocs, mutex, block and goroutine
// profiles as the window closes, all from the broker's admin listener
// (/debug/pprof/), written as pprof's gzipped protobuf with a text summary
// beside them. profiles/README.md says how to read them.

// Profile is one profile a capture takes.
type Profile struct {
	Name string // file is <Name>.pb.gz
	Path string // under the admin URL
	// SampleIndex is the sample type the summary ranks by.
	SampleIndex string
	// What the summary says it shows.
	About string
}

// profiles are taken in this order; cpu spans the measured window, the
// rest are read as it closes.
var profiles = []Profile{
	{"cpu", "/debug/pprof/profile", "", "CPU time over the measured window"},
	{"heap", "/debug/pprof/heap?gc=1", "inuse_space", "live heap as the window closed (after a GC)"},
	{"allocs", "/debug/pprof/allocs", "alloc_space", "bytes allocated since the broker started"},
	{"mutex", "/debug/pprof/mutex", "delay", "time goroutines waited for contended mutexes (sampled 1 in " + fmt.Sprint(mutexProfileFraction) + ")"},
	{"block", "/debug/pprof/block", "delay", "time goroutines spent blocked (channels, selects, sync), sampled per " + fmt.Sprint(blockProfileRateNs) + " ns"},
	{"goroutine", "/debug/pprof/goroutine", "", "goroutines as the window closed"},
}

// profileFetchTimeout bounds reading one non-CPU profile.
const profileFetchTimeout = 30 * time.Second

// CaptureProfiles runs w against t, a broker process with its admin
// listener on, and writes the profiles, their summary (summary.txt) and the
// run's result (result.json) into dir. A profile that could not be read is
// reported in the error but does not stop the others.
func CaptureProfiles(ctx context.Context, w *Workload, t *ProcessTarget, dir string, opt Options) (*Result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t.ProfileRates = true
	var errs []error
	cpuDone := make(chan error, 1)
	var cpuWindow time.Duration
	perfDone := make(chan error, 1)
	perfData := filepath.Join(dir, "perf.data")
	perfBin, perfErr := exec.LookPath("perf")
	opt.OnMeasure = func(window time.Duration) {
		// A second short of the window, so the profile ends inside it.
		cpuWindow = max(time.Second, window-time.Second)
		url := fmt.Sprintf("%s%s?seconds=%d", t.AdminURL(), profiles[0].Path, int(cpuWindow.Seconds()))
		go func() { cpuDone <- fetchTo(ctx, url, filepath.Join(dir, "cpu.pb.gz"), cpuWindow+profileFetchTimeout) }()
		if perfErr == nil {
			// pprof sees a system call or a page fault as time at the
			// instruction that entered the kernel; perf sees inside it.
			go func() {
				out, err := exec.CommandContext(ctx, perfBin, "record", "-F", "499", "-g", "-p", fmt.Sprint(t.PID()),
					"-o", perfData, "--", "sleep", fmt.Sprint(int(cpuWindow.Seconds()))).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
				}
				perfDone <- err
			}()
		} else {
			perfDone <- nil
		}
	}
	opt.AfterMeasure = func() {
		if err := <-cpuDone; err != nil {
			errs = append(errs, fmt.Errorf("cpu profile: %w", err))
		}
		if err := <-perfDone; err != nil {
			errs = append(errs, fmt.Errorf("perf record (kernel stacks; optional): %w", err))
		}
		for _, p := range profiles[1:] {
			if err := fetchTo(ctx, t.AdminURL()+p.Path, filepath.Join(dir, p.Name+".pb.gz"), profileFetchTimeout); err != nil {
				errs = append(errs, fmt.Errorf("%s profile: %w", p.Name, err))
			}
		}
	}
	res, err := Run(ctx, w, t, opt)
	if err != nil {
		return nil, err
	}
	if err := res.WriteJSON(filepath.Join(dir, "result.json")); err != nil {
		errs = append(errs, err)
	}
	if perfErr == nil {
		if err := perfReport(ctx, perfBin, perfData, filepath.Join(dir, "perf.txt")); err != nil {
			errs = append(errs, err)
		}
		os.Remove(perfData) // megabytes, and perf.txt holds what matters
	}
	summary := profileSummary(ctx, dir, res, cpuWindow)
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary), 0o644); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// fetchTo GETs url into path, bounded by timeout.
func fetchTo(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}

// profileNodes is how many lines of `pprof -top` the summary keeps per
// profile: the head of the distribution, where the time goes.
const profileNodes = 25

// profileSummary is the run's figures, then `go tool pprof -top` of each
// profile captured.
func profileSummary(ctx context.Context, dir string, res *Result, cpuWindow time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Profiles of workload %q against %s, captured %s.\n", res.Workload, res.Sluice.Target, res.Sluice.Start.Format(time.RFC3339))
	fmt.Fprintf(&b, "%s\n%s\n%s\n", res.PerfTestLine(), res.ConsumeLine(), res.CorrectnessLine())
	if u := res.Sluice.Broker; u != nil {
		fmt.Fprintf(&b, "broker: %.2f CPU-s over the %.1f s window = %.2f CPU-s/GiB published, RSS %d MiB\n",
			u.CPUSeconds, res.Sluice.MeasuredSeconds, u.CPUSecondsPerGiB, u.RSSBytes>>20)
	}
	for _, n := range res.Sluice.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, p := range profiles {
		file := filepath.Join(dir, p.Name+".pb.gz")
		if _, err := os.Stat(file); err != nil {
			continue
		}
		about := p.About
		if p.Name == "cpu" {
			about = fmt.Sprintf("%s (%s of it)", about, cpuWindow)
		}
		orders := []string{""}
		if p.Name == "cpu" { // by own time, then by time including callees: which path
			orders = append(orders, "-cum")
		}
		for _, order := range orders {
			fmt.Fprintf(&b, "\n==== %s%s: %s\n", p.Name, order, about)
			args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", profileNodes)}
			if order != "" {
				args = append(args, order)
			}
			if p.SampleIndex != "" {
				args = append(args, "-sample_index="+p.SampleIndex)
			}
			var out []byte
			var err error
			for try := 0; try < 2 && len(out) == 0 && err == nil; try++ { // once seen: empty output, no error
				out, err = exec.CommandContext(ctx, goToolPath(), append(args, file)...).CombinedOutput()
			}
			if err != nil {
				fmt.Fprintf(&b, "go tool pprof failed: %v\n", err)
			} else if len(out) == 0 {
				fmt.Fprintf(&b, "go tool pprof printed nothing; run: go tool pprof %s\n", strings.Join(append(args[2:], file), " "))
			}
			b.Write(out)
		}
	}
	return b.String()
}

// perfReportPercentMin hides call chains below this share of the samples.
const perfReportPercentMin = "2"

// perfReport writes perf's view of a recording: symbols by own time, kernel
// and user alike, each with the call chains that reached it.
func perfReport(ctx context.Context, perfBin, data, out string) error {
	cmd := exec.CommandContext(ctx, perfBin, "report", "-i", data, "--no-children", "--stdio",
		"--percent-limit", perfReportPercentMin, "-g", "caller,0.5,callee,function,percent")
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("perf report: %w", err)
	}
	head := "perf record -F 499 -g over the CPU profile's window: where the broker's CPU went, inside the kernel too.\n" +
		"Read: go tool pprof shows Go frames only; a page fault or system call appears there as time at\n" +
		"the instruction that entered the kernel (often runtime.asyncPreempt or Syscall6).\n\n"
	return os.WriteFile(out, append([]byte(head), b...), 0o644)
}
