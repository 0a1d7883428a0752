package main

// The open-file limit (RLIMIT_NOFILE) check at start-up.
//
// Each partition keeps one descriptor per segment (.log; its index files are mapped and their
// descriptors closed), each client connection one, and the group store a few dozen, so a broker
// with thousands of partitions needs tens of thousands of descriptors. Running out shows up late
// and far from its cause (a CreateTopics or a segment roll failing with EMFILE, connections
// refused), so serve raises the soft limit as far as it may and warns when it stays low.
//
// Go's runtime already raises the soft limit at start (package syscall's init, since Go 1.19): to
// the hard limit minus one, when the soft limit is below that, and it restores the original soft
// limit in processes it starts. serve raises it the last step to the hard limit; only the hard
// limit (ulimit -Hn, systemd's LimitNOFILE=, docker run --ulimit nofile=) can give more.

import (
	"log/slog"
	"os"
	"syscall"
)

// openFilesRecommended is the soft limit below which serve warns: room for a few thousand
// partitions with several segments each plus thousands of connections. Kafka's documentation
// suggests 100000 as a starting point for a production broker.
const openFilesRecommended = 65536

// openFileLimit is RLIMIT_NOFILE as serve found and left it.
type openFileLimit struct {
	soft, hard uint64
	softBefore uint64 // the soft limit before raiseOpenFileLimit
	err        error  // reading or raising failed; soft is what is in force
}

// raiseOpenFileLimit raises the soft open-file limit to the hard limit and returns both.
func raiseOpenFileLimit() openFileLimit {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return openFileLimit{err: err}
	}
	lim := openFileLimit{soft: r.Cur, hard: r.Max, softBefore: r.Cur}
	if r.Cur < r.Max {
		want := syscall.Rlimit{Cur: r.Max, Max: r.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			lim.err = err // e.g. a hard limit above fs.nr_open: keep what Go set
		} else {
			lim.soft = r.Max
		}
	}
	return lim
}

// openFilesInUse counts this process's open descriptors, or returns -1 where it cannot.
func openFilesInUse() int {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if ents, err := os.ReadDir(dir); err == nil {
			return len(ents) - 1 // ReadDir's own descriptor is listed too
		}
	}
	return -1
}

// openFilesLow reports whether the limit is low: below openFilesRecommended, or less than twice
// what the broker holds right after opening its logs (so the partitions it has can grow their
// segments and connections come in). inUse < 0 means unknown.
func openFilesLow(soft uint64, inUse int) bool {
	return soft < openFilesRecommended || (inUse >= 0 && soft < 2*uint64(inUse))
}

// checkOpenFiles logs the limit: a warning when it is low, else at debug level.
func checkOpenFiles(logger *slog.Logger, lim openFileLimit, inUse int) {
	if lim.err != nil && lim.hard == 0 {
		logger.Warn("cannot read the open-file limit", "err", lim.err)
		return
	}
	attrs := []any{"soft", lim.soft, "hard", lim.hard, "in_use", inUse, "recommended", openFilesRecommended}
	if lim.softBefore != lim.soft {
		attrs = append(attrs, "raised_from", lim.softBefore)
	}
	if lim.err != nil {
		attrs = append(attrs, "raise_err", lim.err.Error())
	}
	if openFilesLow(lim.soft, inUse) {
		logger.Warn("open-file limit is low: each partition holds a descriptor per segment and each "+
			"connection one; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, docker --ulimit nofile=)", attrs...)
		return
	}
	logger.Debug("open-file limit", attrs...)
}
