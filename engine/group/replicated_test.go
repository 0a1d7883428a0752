package group

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Java's String.hashCode for these strings (the first four are well-known Java values; the
// others check UTF-16 surrogates and a negative hash), and the partition Kafka's
// Utils.abs(hashCode) % 50 gives.
func TestPartitionForMatchesKafka(t *testing.T) {
	for _, tc := range []struct {
		group     string
		hash      int32
		partition int32
	}{
		{"hello", 99162322, 22},
		{"abc", 96354, 4},
		{"", 0, 0},
		{"polygenelubricants", -1 << 31, 0}, // Integer.MIN_VALUE: Utils.abs gives 0
		{"\U0001F600", 1772899, 49},         // one code point, two UTF-16 units
		{"zzzzzzzzzz", -1580979136, 36},
		{"my-consumer-group", 1513705513, 13},
	} {
		if h := JavaStringHashCode(tc.group); h != tc.hash {
			t.Errorf("hashCode(%q) = %d, want %d", tc.group, h, tc.hash)
		}
		if p := PartitionFor(tc.group, 50); p != tc.partition {
			t.Errorf("PartitionFor(%q, 50) = %d, want %d", tc.group, p, tc.partition)
		}
	}
}

func TestKafkaRecordRoundTrip(t *testing.T) {
	for _, r := range []Record{
		SetOffsetRecord("g", "t", 3, OffsetValue{Offset: 7, LeaderEpoch: -1}),
		DeleteOffsetRecord("g", "t", 3),
		DeleteGroupOffsetsRecord("g"),
		DeleteTopicOffsetsRecord("g", "t"),
		SetGroupRecord("g", GroupValue{ProtocolType: "consumer"}),
		DeleteGroupRecord("g"),
	} {
		k, v := KafkaRecord(r)
		got, err := RecordFromKafka(k, v, v == nil)
		if err != nil || got.Type != r.Type || string(got.Key) != string(r.Key) || string(got.Value) != string(r.Value) {
			t.Errorf("%+v: decoded %+v, %v", r, got, err)
		}
	}
	if _, err := RecordFromKafka([]byte("x"), []byte("v"), false); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a key of no known kind: %v, want ErrCorrupt", err)
	}
}

// fakeJournal stands for the offsets topic: it applies each append at the next offset of the
// group's partition, as every replica would once the high watermark passes it, unless failing.
type fakeJournal struct {
	c    *Coordinator
	n    int32
	mu   sync.Mutex
	next map[int32]int64
	fail int16
	// stale: the broker has not heard from the controller lately (Journal.Leading false).
	stale atomic.Bool
}

func (j *fakeJournal) Leading(int32) bool { return !j.stale.Load() }

func (j *fakeJournal) Append(group string, recs []Record, done func(error)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != 0 {
		go done(&AppendError{Code: j.fail, Err: errors.New("injected")})
		return
	}
	p := PartitionFor(group, j.n)
	j.next[p]++
	err := j.c.ApplyReplicated(p, recs, j.next[p])
	go done(err)
}

func TestReplicatedOwnership(t *testing.T) {
	topics := &fakeTopics{n: map[string]int32{"t": 1}, hwm: map[string]int64{}}
	c, err := Open("groups", Options{Config: DefaultConfig(), Topics: topics, FS: vfs.NewMem(), Clock: newFakeClock(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j := &fakeJournal{c: c, n: 4, next: map[int32]int64{}}
	c.Replicate(4, j)
	p := PartitionFor("g", 4)

	commit := func(offset int64) int16 { return commitCode(c, "g", offset) }
	fetch := func() (int64, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group = 5, "g"
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "t", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := c.OffsetFetch(req)
		return resp.Topics[0].Partitions[0].Offset, resp.ErrorCode
	}

	if code := commit(1); code != errNotCoordinator {
		t.Fatalf("commit to a partition not loaded: %d, want NOT_COORDINATOR", code)
	}
	c.BeginLoad(p)
	if code := commit(1); code != errCoordinatorLoadInProgress {
		t.Fatalf("commit while loading: %d, want COORDINATOR_LOAD_IN_PROGRESS", code)
	}
	if _, code := fetch(); code != errCoordinatorLoadInProgress {
		t.Fatalf("fetch while loading: %d, want COORDINATOR_LOAD_IN_PROGRESS", code)
	}
	if code := c.ListGroups(kmsg.NewPtrListGroupsRequest()).ErrorCode; code != errCoordinatorLoadInProgress {
		t.Fatalf("ListGroups while loading: %d, want COORDINATOR_LOAD_IN_PROGRESS", code)
	}
	if err := c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	if code := commit(42); code != errNone {
		t.Fatalf("commit: %d", code)
	}
	if off, code := fetch(); off != 42 || code != errNone {
		t.Fatalf("fetch: offset %d error %d, want 42", off, code)
	}
	if applied, err := c.AppliedOffset(p); applied != 1 || err != nil {
		t.Fatalf("applied offset %d (%v), want 1", applied, err)
	}
	// A broker that may have been fenced without knowing neither serves nor takes offsets.
	j.stale.Store(true)
	if _, code := fetch(); code != errNotCoordinator {
		t.Fatalf("fetch while the broker is not current: %d, want NOT_COORDINATOR", code)
	}
	if code := commit(7); code != errNotCoordinator {
		t.Fatalf("commit while the broker is not current: %d, want NOT_COORDINATOR", code)
	}
	j.stale.Store(false)
	if off, code := fetch(); off != 42 || code != errNone {
		t.Fatalf("fetch once current again: offset %d error %d, want 42", off, code)
	}
	j.mu.Lock()
	j.fail = errCoordinatorNotAvailable
	j.mu.Unlock()
	if code := commit(43); code != errCoordinatorNotAvailable {
		t.Fatalf("commit whose append failed: %d, want the append's COORDINATOR_NOT_AVAILABLE", code)
	}

	c.UnloadPartition(p)
	if _, code := fetch(); code != errNotCoordinator {
		t.Fatalf("fetch after unloading: %d, want NOT_COORDINATOR", code)
	}
	if lg := c.ListGroups(kmsg.NewPtrListGroupsRequest()); len(lg.Groups) != 0 {
		t.Fatalf("groups listed after unloading: %+v", lg.Groups)
	}
	c.BeginLoad(p)
	if err := c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	if off, code := fetch(); off != 42 || code != errNone {
		t.Fatalf("fetch after loading again: offset %d error %d, want 42", off, code)
	}
	if lg := c.ListGroups(kmsg.NewPtrListGroupsRequest()); len(lg.Groups) != 1 || lg.Groups[0].Group != "g" {
		t.Fatalf("groups listed after loading again: %+v", lg.Groups)
	}

	// The partition's log lost what the store applied: its groups go, other partitions' stay.
	other := "h"
	for PartitionFor(other, 4) == p {
		other += "h"
	}
	if err := c.ApplyReplicated(PartitionFor(other, 4), []Record{SetOffsetRecord(other, "t", 0, OffsetValue{Offset: 9, LeaderEpoch: -1})}, 1); err != nil {
		t.Fatal(err)
	}
	c.UnloadPartition(p)
	if err := c.ResetPartition(p, 0); err != nil {
		t.Fatal(err)
	}
	c.BeginLoad(p)
	if err := c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	if off, code := fetch(); off != -1 || code != errNone {
		t.Fatalf("fetch after the partition was reset: offset %d error %d, want -1", off, code)
	}
	if applied, err := c.AppliedOffset(p); applied != 0 || err != nil {
		t.Fatalf("applied offset after the reset %d (%v), want 0", applied, err)
	}
	if v, ok, err := c.store.Offset(other, "t", 0); !ok || v.Offset != 9 || err != nil {
		t.Fatalf("another partition's offset after the reset: %+v %v %v", v, ok, err)
	}
}
