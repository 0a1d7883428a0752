package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is one reading of a process's resource use from /proc.
type procSample struct {
	cpu          time.Duration // user + system time since the process started
	rssBytes     int64         // resident set now (VmRSS)
	peakRSSBytes int64         // resident set high-water mark (VmHWM)
}

// userHZ is the unit of /proc/PID/stat's times. The kernel fixes it at 100
// for user space on every architecture Go runs on (it is part of the ABI,
// unlike the kernel's internal HZ), so it is a constant, not a sysconf call.
const userHZ = 100

// readProc samples process pid, or this process when pid is 0.
func readProc(pid int) (procSample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	var s procSample
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("read process stats: %w", err)
	}
	// The command name (field 2) is in parentheses and may itself hold
	// spaces and parentheses: the fields we want follow the last ')'.
	// After it, fields[0] is field 3 (state), so utime (field 14) is
	// fields[11] and stime (field 15) is fields[12].
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("%s/stat: no ')' in %q", dir, stat)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return s, fmt.Errorf("%s/stat: %d fields after the command name, want at least 13", dir, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("%s/stat: utime %q, stime %q", dir, fields[11], fields[12])
	}
	s.cpu = time.Duration(utime+stime) * time.Second / userHZ

	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("read process status: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		// Lines look like "VmRSS:	   12345 kB".
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if key == "VmRSS" {
			s.rssBytes = kib << 10
		} else {
			s.peakRSSBytes = kib << 10
		}
	}
	return s, nil
}

// loadAvg1 is the 1-minute load average, or 0 if /proc/loadavg is unreadable.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// readMachineBusy is the non-idle CPU time of every CPU since boot, from the
// first line of /proc/stat: "cpu user nice system idle iowait irq softirq
// steal ...", in USER_HZ ticks; idle and iowait are not busy.
func readMachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, x := range f[1:9] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		if i != 3 && i != 4 && i != 7 { // not idle, iowait or steal
			busy += v
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}
