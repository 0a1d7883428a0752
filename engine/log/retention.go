package log

import (
	"sync"
	"time"
)

// EnforceRetention deletes whole segments, oldest first and never the active one, while any of
// these holds for the oldest: it lies wholly below the log start offset (DeleteRecords); its
// newest record is older than retention.ms; the log without it is still at least retention.bytes.
// It returns how many segments went.
func (l *Log) EnforceRetention() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0
	}
	cfg := l.cfg.Load()
	nowMs := cfg.now().UnixMilli()
	logStart := l.logStartOffset.Load()
	n := l.deleteSegmentsLocked(func(s, next *segment, remaining int64) bool {
		if next.base <= logStart {
			return true
		}
		if cfg.RetentionMs >= 0 && segmentTimestampMs(s) < nowMs-cfg.RetentionMs {
			return true
		}
		return cfg.RetentionBytes >= 0 && remaining-s.size.Load() >= cfg.RetentionBytes
	})
	if n > 0 {
		l.truncateEpochsFromStart(l.logStartOffset.Load())
		l.writeCheckpoint()
	}
	return n
}

// segmentTimestampMs is the newest record timestamp in the segment, or its file's modification
// time when no batch carries one (Kafka's fallback).
func segmentTimestampMs(s *segment) int64 {
	if ts := s.maxTimestamp.Load(); ts >= 0 {
		return ts
	}
	if st, err := s.file.Stat(); err == nil {
		return st.ModTime().UnixMilli()
	}
	return 0
}

// Cleaner runs EnforceRetention over a set of logs every interval
// (log.retention.check.interval.ms, Kafka's default 300000).
type Cleaner struct {
	interval time.Duration
	logs     func() []*Log
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// DefaultRetentionCheckInterval is Kafka's log.retention.check.interval.ms.
const DefaultRetentionCheckInterval = 5 * time.Minute

// StartCleaner starts the background retention pass. logs returns the logs to check each pass.
func StartCleaner(interval time.Duration, logs func() []*Log) *Cleaner {
	c := &Cleaner{interval: interval, logs: logs, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *Cleaner) run() {
	defer close(c.done)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			for _, l := range c.logs() {
				l.EnforceRetention()
			}
		}
	}
}

// Stop ends the cleaner and waits for a pass in progress.
func (c *Cleaner) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
