package log

import "time"

// crash abandons the log as a killed process would: descriptors and mappings go, nothing is
// sealed, synced or checkpointed, and no clean-shutdown marker is written.
func (l *Log) crash() {
	l.flush.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.rollSync.Wait()
	if l.wb != nil {
		l.wb.stop() // what was not written yet is lost, as in a killed process
	}
	for _, s := range *l.segments.Load() {
		s.release()
	}
}

// waitTrimmer waits until the trimmer goroutine has carried out every advice queued so far.
func waitTrimmer(t interface{ Fatal(...any) }) {
	for deadline := time.Now().Add(10 * time.Second); trimmer.served.Load() < trimmer.queued.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the page-cache trimmer did not finish its queue within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitWritten waits until write-behind has written and published everything appended (no-op in
// buffered mode).
func (l *Log) waitWritten(t interface{ Fatal(...any) }) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.WaitWritten(); err != nil {
		t.Fatal("write-behind drain: ", err)
	}
}
