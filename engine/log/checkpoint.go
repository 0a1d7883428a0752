package log

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluicemq/sluice/internal/fsutil"
)

type atomicInt64 = atomic.Int64

// Files beside the segments in a partition directory.
const (
	checkpointFile    = "checkpoint"      // log start offset, recovery point, high watermark
	cleanShutdownFile = ".clean-shutdown" // present only between a clean Close and the next Open
	checkpointHeader  = "sluice-log-checkpoint v1"
)

type checkpoint struct {
	logStartOffset, recoveryPoint, highWatermark int64
	found                                        bool
}

// writeCheckpoint persists the published offsets atomically (temp file, fsync, rename).
func (l *Log) writeCheckpoint() error {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	body := fmt.Sprintf("%s\nlog_start_offset=%d\nrecovery_point=%d\nhigh_watermark=%d\n", checkpointHeader,
		l.logStartOffset.Load(), l.flush.recoveryPoint.Load(), l.highWatermark.Load())
	return writeFileAtomic(filepath.Join(l.dir, checkpointFile), []byte(body))
}

// writeFileAtomic is fsutil.WriteFileAtomic (temp file, fsync, rename, directory fsync).
var writeFileAtomic = fsutil.WriteFileAtomic

func readCheckpoint(dir string) (checkpoint, error) {
	f, err := os.Open(filepath.Join(dir, checkpointFile))
	if os.IsNotExist(err) {
		return checkpoint{}, nil
	}
	if err != nil {
		return checkpoint{}, err
	}
	defer f.Close()
	var c checkpoint
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != checkpointHeader {
		return checkpoint{}, nil // unreadable: recover everything, as if there were none
	}
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return checkpoint{}, nil
		}
		switch k {
		case "log_start_offset":
			c.logStartOffset = n
		case "recovery_point":
			c.recoveryPoint = n
		case "high_watermark":
			c.highWatermark = n
		}
	}
	c.found = true
	return c, nil
}

func writeCleanShutdown(dir string) error {
	return writeFileAtomic(filepath.Join(dir, cleanShutdownFile), nil)
}
