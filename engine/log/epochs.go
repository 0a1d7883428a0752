package log

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The leader epoch cache (KIP-101): for every leader epoch that wrote to this log, the offset of
// its first batch. A follower (or a returning old leader) asks the current leader for the end
// offset of its own latest epoch (OffsetForLeaderEpoch) and truncates there, rather than to its
// high watermark — the difference that keeps quick double failovers from losing acknowledged
// writes. Kept in leader-epoch-checkpoint in Kafka's text format:
//
//	0            version
//	N            number of entries
//	<epoch> <start offset>   N lines, epochs ascending
//
// The file is rewritten (fsync, rename) whenever an epoch starts or the log is truncated at either
// end; epochs change rarely, so this costs nothing on the append path.

const epochCheckpointFile = "leader-epoch-checkpoint"

// UndefinedEpoch and UndefinedOffset are Kafka's answers when an epoch is unknown.
const (
	UndefinedEpoch  int32 = -1
	UndefinedOffset int64 = -1
)

type epochEntry struct {
	epoch int32
	start int64
}

type epochCache struct {
	mu      sync.Mutex // readers (EndOffsetForEpoch) and the writer
	entries []epochEntry
}

// assign notes that leader epoch e wrote a batch at offset start. Caller holds l.mu.
func (l *Log) assignEpoch(e int32, start int64) error {
	c := &l.epochs
	c.mu.Lock()
	n := len(c.entries)
	if n > 0 && e <= c.entries[n-1].epoch {
		c.mu.Unlock()
		return nil // same epoch (the common case), or an older one re-sending
	}
	c.entries = append(c.entries, epochEntry{e, start})
	c.mu.Unlock()
	return l.writeEpochs()
}

// MaybeAssignEpochStartOffset records that leader epoch epoch starts at the log end offset, as a
// broker does when it becomes leader (Kafka's maybeAssignEpochStartOffset), before it has written
// anything in that epoch. Without it a new leader that has not yet written would answer a
// follower's OffsetForLeaderEpoch for an epoch newer than any of its batches with "undefined"
// instead of the end of the epoch the follower diverged in. An epoch not newer than the latest is
// ignored.
func (l *Log) MaybeAssignEpochStartOffset(epoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if epoch < 0 {
		panic(fmt.Sprintf("BUG: leader epoch %d assigned", epoch))
	}
	return l.assignEpoch(epoch, l.logEndOffset.Load())
}

// unassignEpoch undoes assignEpoch(e, start) whose checkpoint write failed, so memory and file
// agree again. Caller holds l.mu.
func (l *Log) unassignEpoch(e int32, start int64) {
	c := &l.epochs
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.entries); n > 0 && c.entries[n-1] == (epochEntry{e, start}) {
		c.entries = c.entries[:n-1]
	}
}

// truncateEpochsFromEnd drops epochs that start at or after leo (after Truncate). Caller holds l.mu.
func (l *Log) truncateEpochsFromEnd(leo int64) {
	c := &l.epochs
	c.mu.Lock()
	n := len(c.entries)
	for n > 0 && c.entries[n-1].start >= leo {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	c.mu.Unlock()
	if changed {
		l.writeEpochs()
	}
}

// truncateEpochsFromStart forgets epochs wholly below logStart and moves the start of the one
// holding it there (after retention or DeleteRecords). Caller holds l.mu.
func (l *Log) truncateEpochsFromStart(logStart int64) {
	c := &l.epochs
	c.mu.Lock()
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].start > logStart }) - 1
	changed := false
	if i > 0 {
		c.entries = append([]epochEntry(nil), c.entries[i:]...)
		changed = true
	}
	if len(c.entries) > 0 && c.entries[0].start < logStart && i >= 0 {
		c.entries[0].start = logStart
		changed = true
	}
	c.mu.Unlock()
	if changed {
		l.writeEpochs()
	}
}

// LatestEpoch is the newest leader epoch that wrote to the log, or UndefinedEpoch.
func (l *Log) LatestEpoch() int32 {
	c := &l.epochs
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return UndefinedEpoch
	}
	return c.entries[len(c.entries)-1].epoch
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch with Kafka's rules: for the latest epoch, the log
// end offset; for an older one, the start offset of the first later epoch, together with the
// largest epoch not above the one asked (which may differ from it); for an epoch newer than any
// here, or UndefinedEpoch, (UndefinedEpoch, UndefinedOffset).
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	c := &l.epochs
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	if epoch == UndefinedEpoch || n == 0 {
		return UndefinedEpoch, UndefinedOffset
	}
	if c.entries[n-1].epoch == epoch {
		return epoch, l.logEndOffset.Load()
	}
	hi := sort.Search(n, func(i int) bool { return c.entries[i].epoch > epoch })
	if hi == n {
		return UndefinedEpoch, UndefinedOffset
	}
	if hi == 0 {
		return epoch, c.entries[0].start
	}
	return c.entries[hi-1].epoch, c.entries[hi].start
}

func (l *Log) writeEpochs() error {
	c := &l.epochs
	c.mu.Lock()
	var sb strings.Builder
	fmt.Fprintf(&sb, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&sb, "%d %d\n", e.epoch, e.start)
	}
	c.mu.Unlock()
	return writeFileAtomic(filepath.Join(l.dir, epochCheckpointFile), []byte(sb.String()))
}

// loadEpochs reads the checkpoint; a missing or unreadable one starts empty (recovery refills
// what it scans). Before the log is published: no lock needed.
func (l *Log) loadEpochs() {
	f, err := os.Open(filepath.Join(l.dir, epochCheckpointFile))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 2 || lines[0] != "0" {
		return
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return
	}
	var entries []epochEntry
	for _, ln := range lines[2:] {
		var e epochEntry
		if _, err := fmt.Sscanf(ln, "%d %d", &e.epoch, &e.start); err != nil {
			return
		}
		if len(entries) > 0 && (e.epoch <= entries[len(entries)-1].epoch || e.start < entries[len(entries)-1].start) {
			return
		}
		entries = append(entries, e)
	}
	l.epochs.entries = entries
}
