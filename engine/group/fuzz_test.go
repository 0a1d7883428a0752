package group

// FuzzCoordinator drives the coordinator with arbitrary sequences of group requests (decoded by
// kmsg at arbitrary versions) and clock advances: it must never panic and must answer every
// request exactly once — at once, on a timer, or at the latest when it closes. Member ids are
// predictable ("<client>-<n>") so that the fuzzer can reuse them from the seeds.

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzOps are the requests a fuzz input can send, by op byte (mod len).
var fuzzOps = []int16{11, 14, 12, 13, 8, 9, 15, 16, 42, 47, -1}

// fuzzStep encodes one step: op, version, clock advance (ms, as a power-of-two-ish byte), body.
func fuzzStep(op, version int16, advance byte, req kmsg.Request) []byte {
	body := req.AppendTo(nil)
	b := []byte{byte(op), byte(version), advance}
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func FuzzCoordinator(f *testing.F) {
	join := func(v int16, member string) kmsg.Request {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version, r.Group, r.MemberID, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = v, "g", member, 1000, 2000, "consumer"
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMetadataForTest("t")}}
		return r
	}
	sync := func(member string, gen int32) kmsg.Request {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version, r.Group, r.MemberID, r.Generation = 3, "g", member, gen
		r.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: member, MemberAssignment: []byte{0, 0, 0, 0, 0, 0}}}
		return r
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 3, "g", "c-1", 1
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group, commit.MemberID, commit.Generation = 7, "g", "c-1", 1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1}}}}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 1, "g", "c-1"
	var seed []byte
	seed = append(seed, fuzzStep(0, 3, 0, join(3, ""))...)
	seed = append(seed, fuzzStep(0, 5, 0, join(5, ""))...)
	seed = append(seed, fuzzStep(0, 5, 6, join(5, "c-2"))...)
	seed = append(seed, fuzzStep(1, 3, 0, sync("c-1", 1))...)
	seed = append(seed, fuzzStep(1, 3, 0, sync("c-2", 1))...)
	seed = append(seed, fuzzStep(2, 3, 3, hb)...)
	seed = append(seed, fuzzStep(4, 7, 0, commit)...)
	seed = append(seed, fuzzStep(3, 1, 10, leave)...)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		h := newFuzzHarness(t)
		for len(in) >= 5 {
			op, version, advance := fuzzOps[int(in[0])%len(fuzzOps)], int16(in[1]%16), in[2]
			n := int(binary.BigEndian.Uint16(in[3:5]))
			in = in[5:]
			if n > len(in) {
				n = len(in)
			}
			body := append([]byte(nil), in[:n]...)
			in = in[n:]
			h.send(op, version, body)
			h.clock.Advance(time.Duration(advance) * time.Duration(advance) * time.Millisecond)
		}
		h.finish()
	})
}

type fuzzHarness struct {
	t     *testing.T
	clock *fakeClock
	c     *Coordinator
	ids   int

	mu       sync.Mutex
	sent     int
	answered map[int]int
}

func newFuzzHarness(t *testing.T) *fuzzHarness {
	h := &fuzzHarness{t: t, clock: newFakeClock(), answered: map[int]int{}}
	cfg := DefaultConfig()
	cfg.GroupMinSessionTimeoutMs, cfg.GroupInitialRebalanceDelayMs = 1, 100
	c, err := Open("groups", Options{
		Config: cfg, Topics: &fakeTopics{n: map[string]int32{"t": 2}, hwm: map[string]int64{}}, FS: vfs.NewMem(), Clock: h.clock,
		NewMemberID: func(prefix string) string { h.ids++; return fmt.Sprintf("%s-%d", prefix, h.ids) },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return h
}

// reply returns the reply function of a new request.
func (h *fuzzHarness) reply() func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sent++
	n := h.sent
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.answered[n]++
		if h.answered[n] > 1 {
			h.t.Errorf("request %d answered %d times", n, h.answered[n])
		}
	}
}

func (h *fuzzHarness) send(key, version int16, body []byte) {
	if key < 0 {
		h.c.TopicDeleted("t")
		return
	}
	req := kmsg.RequestForKey(key)
	if version > req.MaxVersion() {
		version %= req.MaxVersion() + 1
	}
	req.SetVersion(version)
	if req.ReadFrom(body) != nil {
		return
	}
	done := h.reply()
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		h.c.JoinGroup(r, Client{ID: "c", Host: "/127.0.0.1"}, func(*kmsg.JoinGroupResponse) { done() })
	case *kmsg.SyncGroupRequest:
		h.c.SyncGroup(r, func(*kmsg.SyncGroupResponse) { done() })
	case *kmsg.HeartbeatRequest:
		h.c.Heartbeat(r)
		done()
	case *kmsg.LeaveGroupRequest:
		h.c.LeaveGroup(r)
		done()
	case *kmsg.OffsetCommitRequest:
		h.c.OffsetCommit(r, func(*kmsg.OffsetCommitResponse) { done() })
	case *kmsg.OffsetFetchRequest:
		h.c.OffsetFetch(r)
		done()
	case *kmsg.DescribeGroupsRequest:
		h.c.DescribeGroups(r)
		done()
	case *kmsg.ListGroupsRequest:
		h.c.ListGroups(r)
		done()
	case *kmsg.DeleteGroupsRequest:
		h.c.DeleteGroups(r, func(*kmsg.DeleteGroupsResponse) { done() })
	case *kmsg.OffsetDeleteRequest:
		h.c.OffsetDelete(r, func(*kmsg.OffsetDeleteResponse) { done() })
	}
	for _, g := range h.c.sortedGroups() {
		d, err := h.c.Describe(g.name)
		if err == nil {
			d.WriteText(io.Discard)
		}
	}
}

// finish lets every timer run, closes the coordinator and checks every request was answered.
func (h *fuzzHarness) finish() {
	h.c.Flush()
	h.c.RunRetention()
	reg := prometheus.NewPedanticRegistry() // checks every metric against its descriptor
	reg.MustRegister(h.c.Collector())
	if _, err := reg.Gather(); err != nil {
		h.t.Fatalf("metrics: %v", err)
	}
	if err := h.c.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for n := 1; n <= h.sent; n++ {
		if h.answered[n] != 1 {
			h.t.Errorf("request %d of %d answered %d times after Close", n, h.sent, h.answered[n])
		}
	}
}

func consumerMetadataForTest(topics ...string) []byte {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	return md.AppendTo(nil)
}
