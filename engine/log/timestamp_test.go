package log

import (
	"testing"

	"github.com/sluicemq/sluice/engine/record"
)

// TestRecordTimestamp: across many segments, every record's own timestamp (CreateTime, deltas not
// monotonic); below the log start, the first remaining record's; nothing at or above upTo.
func TestRecordTimestamp(t *testing.T) {
	f := newFixture(t)
	f.appendRandom(300)
	if f.l.NumSegments() < 3 {
		t.Fatalf("%d segments, want several", f.l.NumSegments())
	}
	// A batch larger than the first read (recordTimestampReadBytes): its later records need a
	// second.
	big, bigTS := makeBatch(f.rng, 4, recordTimestampReadBytes, f.clock.ms.Load())
	info, err := f.l.Append(record.Batch(big), 3)
	if err != nil {
		t.Fatal(err)
	}
	f.want = append(f.want, stored{base: info.BaseOffset, last: info.LastOffset, recTS: bigTS})
	f.l.SetHighWatermark(f.l.LogEndOffset())
	leo := f.l.LogEndOffset()
	for _, s := range f.want {
		for off := s.base; off <= s.last; off++ {
			ts, ok, err := f.l.RecordTimestamp(off, leo)
			if err != nil || !ok || ts != s.recTS[off-s.base] {
				t.Fatalf("offset %d: %d %v %v, want %d", off, ts, ok, err, s.recTS[off-s.base])
			}
		}
	}
	if _, ok, err := f.l.RecordTimestamp(leo, leo); ok || err != nil {
		t.Errorf("at the log end: ok %v err %v, want no record", ok, err)
	}
	upTo := f.want[10].base
	if _, ok, err := f.l.RecordTimestamp(upTo, upTo); ok || err != nil {
		t.Errorf("at upTo: ok %v err %v, want no record", ok, err)
	}
	// The log start inside a batch of several records: its second record is the first remaining.
	i := 150
	for f.want[i].last == f.want[i].base {
		i++
	}
	if err := f.l.DeleteBefore(f.want[i].base + 1); err != nil {
		t.Fatal(err)
	}
	ts, ok, err := f.l.RecordTimestamp(f.want[20].base, leo)
	if want := f.want[i].recTS[1]; err != nil || !ok || ts != want {
		t.Errorf("below the log start: %d %v %v, want the first remaining record's %d", ts, ok, err, want)
	}
}
