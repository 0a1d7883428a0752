// Package cputime reads the CPU time (user plus system) the kernel has charged so far, for
// benchmarks that report CPU seconds per GiB. Invariant: each reading only grows, for the process
// and, read on the same thread, for the thread.
package cputime

import (
	"time"

	"golang.org/x/sys/unix"
)

// Process is the process's user and system CPU time so far.
func Process() time.Duration { return read(unix.RUSAGE_SELF) }

// Thread is the calling thread's user and system CPU time so far (lock the goroutine to its
// thread, runtime.LockOSThread, between two readings).
func Thread() time.Duration { return read(unix.RUSAGE_THREAD) }

func read(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		panic("BUG: getrusage: " + err.Error()) // only EFAULT or EINVAL, neither possible here
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
