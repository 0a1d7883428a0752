package log

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// load opens the segments in l.dir. After a clean shutdown (marker present) every segment is
// trusted: sizes from the files, indexes from disk, mapped lazily. Otherwise segments from the one
// holding the recovery point onward are scanned batch by batch (CRC included); the first bad or
// torn batch ends the log there, later segments are deleted, and indexes are rebuilt. With
// RecoveryVerifyAll every segment is scanned that way, clean shutdown or not.
func (l *Log) load() error {
	cfg := l.cfg.Load()
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(l.dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil || len(name) != 24 {
			continue // not ours
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	ckpt, err := readCheckpoint(l.dir)
	if err != nil {
		return err
	}
	markerPath := filepath.Join(l.dir, cleanShutdownFile)
	_, statErr := os.Stat(markerPath)
	clean := statErr == nil && ckpt.found
	if statErr == nil {
		if err := os.Remove(markerPath); err != nil {
			return err
		}
	}
	if !clean {
		// A killed direct-mode run's answered but unwritten appends go back into the segment
		// before it is scanned (and CRC-checked) below.
		if l.ringReplayed, err = replayRing(l.dir, bases); err != nil {
			return err
		}
	}
	// Segments strictly before the one holding the recovery point were fsynced whole.
	rpBase := int64(-1)
	for _, b := range bases {
		if b <= ckpt.recoveryPoint {
			rpBase = b
		}
	}

	var segs []*segment
	var recovered []*segment
	closeAll := func() {
		for _, s := range segs {
			s.closeFiles()
		}
	}
	for i, base := range bases {
		var s *segment
		trusted := false
		if (clean || base < rpBase) && !cfg.RecoveryVerifyAll {
			s, trusted, err = openTrusted(l.dir, base, cfg)
			if err != nil {
				closeAll()
				return err
			}
		} else {
			f, err := os.OpenFile(segmentPath(l.dir, base, ".log"), os.O_RDWR, 0o644)
			if err != nil {
				closeAll()
				return err
			}
			s = newSegment(base, f)
		}
		if len(segs) > 0 && segs[len(segs)-1].next.Load() > base {
			// Overlaps its predecessor: it cannot be trusted, nor anything after it.
			s.closeFiles()
			l.deleteFrom(bases[i:])
			break
		}
		truncated := false
		if !trusted {
			if s.index.mmapIndex != nil {
				s.index.close()
				s.timeIndex.close()
			}
			truncated, err = s.recover(l.dir, cfg)
			if err != nil {
				s.closeFiles()
				closeAll()
				return fmt.Errorf("recover segment %d: %w", base, err)
			}
			s.active = true // indexes are writable until sealed below
			recovered = append(recovered, s)
		}
		segs = append(segs, s)
		if truncated {
			l.deleteFrom(bases[i+1:])
			break
		}
	}
	if len(segs) == 0 {
		s, err := createSegment(l.dir, ckpt.logStartOffset, *cfg)
		if err != nil {
			return err
		}
		segs = append(segs, s)
	}
	// Seal everything but the last; make the last writable.
	for _, s := range segs[:len(segs)-1] {
		if s.active {
			if err := s.seal(); err != nil {
				closeAll()
				return err
			}
		}
	}
	last := segs[len(segs)-1]
	if !last.active {
		if err := last.index.makeWritable(cfg.SegmentIndexBytes); err != nil {
			closeAll()
			return err
		}
		if err := last.timeIndex.makeWritable(cfg.SegmentIndexBytes); err != nil {
			closeAll()
			return err
		}
		last.active = true
	}
	// What recovery read may have been only in the page cache of a crashed process: make it
	// durable before trusting it as the new recovery point.
	var syncErr error
	for _, s := range recovered {
		syncErr = errors.Join(syncErr, s.sync())
	}
	l.publish(segs)
	l.loadEpochs()

	leo := last.next.Load()
	logStart := max(ckpt.logStartOffset, segs[0].base)
	if logStart > leo {
		logStart = leo
	}
	l.logStartOffset.Store(logStart)
	l.logEndOffset.Store(leo)
	l.readableEnd.Store(leo)
	if ckpt.highWatermark > leo {
		l.committedLost = ckpt.highWatermark - max(leo, logStart)
	}
	hw := min(max(ckpt.highWatermark, logStart), leo)
	l.highWatermark.Store(hw)
	rp := min(ckpt.recoveryPoint, leo)
	if clean || syncErr == nil {
		rp = leo
	}
	l.flush.recoveryPoint.Store(rp)
	// Epochs must describe only what survived recovery, and must know every epoch recovery saw.
	l.truncateEpochsFromEnd(leo)
	for _, s := range recovered {
		for _, e := range s.epochsSeen {
			l.assignEpoch(e.epoch, e.start)
		}
		s.epochsSeen = nil
	}
	l.truncateEpochsFromStart(logStart)
	return l.writeCheckpoint()
}

func (l *Log) deleteFrom(bases []int64) {
	for _, b := range bases {
		os.Remove(segmentPath(l.dir, b, ".log"))
		os.Remove(segmentPath(l.dir, b, ".index"))
		os.Remove(segmentPath(l.dir, b, ".timeindex"))
	}
}
