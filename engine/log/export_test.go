package log

// crash abandons the log as a killed process would: descriptors and mappings go, nothing is
// sealed, synced or checkpointed, and no clean-shutdown marker is written.
func (l *Log) crash() {
	l.flush.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.rollSync.Wait()
	for _, s := range *l.segments.Load() {
		s.release()
	}
}
