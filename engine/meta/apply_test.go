package meta

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"
)

// newTestImage is a cluster of unfenced brokers 1..n and a topic t with the given assignments.
func newTestImage(t testing.TB, n int, parts ...PartitionAssignment) *Image {
	t.Helper()
	img := Empty
	var err error
	for id := int32(1); id <= int32(n); id++ {
		if img, err = ApplyBatch(img, []Record{testRegistration(id, "", 1), UnfenceBroker{BrokerID: id, BrokerEpoch: int64(id)}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(parts) > 0 {
		if img, err = Apply(img, CreateTopic{Name: "t", TopicID: testTopicID("t"), Partitions: parts}); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func TestApplyTable(t *testing.T) {
	tid := testTopicID("t")
	rf3 := PartitionAssignment{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}
	for _, tc := range []struct {
		name string
		recs []Record
		want error // nil: accepted
	}{
		{"register", []Record{testRegistration(9, "r", 1)}, nil},
		{"register bad endpoint", []Record{RegisterBroker{BrokerID: 9, Endpoints: []Endpoint{{Listener: "PLAINTEXT", Host: "h", Port: 70000}}}}, ErrInvalidBroker},
		{"register duplicate", []Record{testRegistration(1, "", 1)}, ErrBrokerState},
		{"fence leader alone", []Record{FenceBroker{BrokerID: 1, BrokerEpoch: 1}}, ErrBrokerState},
		{"fence after moving away", []Record{
			ElectLeader{TopicID: tid, Partition: 0, Leader: 2, ISR: []int32{2, 3}},
			FenceBroker{BrokerID: 1, BrokerEpoch: 1},
		}, nil},
		{"batch is all or none", []Record{
			ElectLeader{TopicID: tid, Partition: 0, Leader: 2, ISR: []int32{2, 3}},
			FenceBroker{BrokerID: 1, BrokerEpoch: 7},
		}, ErrStaleBrokerEpoch},
		{"elect out of ISR", []Record{ChangeISR{TopicID: tid, BrokerID: 1, ISR: []int32{1}}, ElectLeader{TopicID: tid, PartitionEpoch: 1, Leader: 2, ISR: []int32{1}}}, ErrUncleanElection},
		{"ISR grows by leader", []Record{ChangeISR{TopicID: tid, BrokerID: 1, ISR: []int32{1}}, ChangeISR{TopicID: tid, BrokerID: 1, PartitionEpoch: 1, ISR: []int32{1, 3}}}, nil},
		{"ISR grows by controller", []Record{ChangeISR{TopicID: tid, BrokerID: 1, ISR: []int32{1}}, ElectLeader{TopicID: tid, PartitionEpoch: 1, Leader: 1, ISR: []int32{1, 3}}}, ErrInvalidISR},
		{"stale ChangeISR", []Record{ChangeISR{TopicID: tid, BrokerID: 1, ISR: []int32{1, 2}}, ChangeISR{TopicID: tid, BrokerID: 1, ISR: []int32{1}}}, ErrStalePartitionEpoch},
		{"deposed leader", []Record{ElectLeader{TopicID: tid, Leader: 2, ISR: []int32{1, 2, 3}}, ChangeISR{TopicID: tid, BrokerID: 1, PartitionEpoch: 1, ISR: []int32{1}}}, ErrNotLeader},
		{"unknown partition", []Record{ElectLeader{TopicID: tid, Partition: 5, Leader: 2, ISR: []int32{2}}}, ErrUnknownPartition},
		{"unknown topic", []Record{ElectLeader{TopicID: testTopicID("x"), Leader: 2, ISR: []int32{2}}}, ErrUnknownTopic},
		{"no-op", []Record{ElectLeader{TopicID: tid, Leader: 1, ISR: []int32{3, 2, 1}}}, ErrNoChange},
		{"topic id reused", []Record{CreateTopic{Name: "u", TopicID: tid, Partitions: []PartitionAssignment{rf3}}}, ErrTopicExists},
		{"config twice", []Record{AlterTopicConfig{TopicID: tid, Changes: []ConfigChange{{Name: "a", Value: "1"}, {Name: "a", Delete: true}}}}, ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := newTestImage(t, 3, rf3)
			next, err := ApplyBatch(img, tc.recs)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if err := CheckInvariants(next); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if next != nil {
				t.Fatal("a rejected batch returned an image")
			}
			if err := CheckInvariants(img); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestApplyDoesNotModifyInput checks that images are persistent: applying to an image leaves it
// (and everything reachable from it) as it was.
func TestApplyDoesNotModifyInput(t *testing.T) {
	img := newTestImage(t, 3, PartitionAssignment{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	before := string(EncodeImage(img))
	recs := append(FenceBrokerRecords(img, 1, Policy{}), AlterTopicConfig{TopicID: testTopicID("t"), Changes: []ConfigChange{{Name: "x", Value: "y"}}})
	next, err := ApplyBatch(img, recs)
	if err != nil {
		t.Fatal(err)
	}
	if string(EncodeImage(img)) != before {
		t.Fatal("ApplyBatch changed its input image")
	}
	if string(EncodeImage(next)) == before {
		t.Fatal("ApplyBatch changed nothing")
	}
}

// TestApplyEpochsOnlyGrow drives random controller decisions and leader ISR changes through
// ApplyBatch and checks, after every batch: the invariants; leader and partition epochs never
// decrease; a leader change always bumps the leader epoch; any change bumps the partition epoch;
// and a leader is only ever elected from the previous ISR unless the record says unclean.
func TestApplyEpochsOnlyGrow(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			img := newTestImage(t, 5)
			pol := Policy{UncleanLeaderElection: seed%4 == 0}
			rec, err := CreateTopicRecord(img, "t", testTopicID("t"), 8, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			if img, err = Apply(img, rec); err != nil {
				t.Fatal(err)
			}
			incarnations := map[int32]int{}
			for step := 0; step < 300; step++ {
				id := int32(rng.Intn(5) + 1)
				var recs []Record
				switch rng.Intn(6) {
				case 0:
					recs = FenceBrokerRecords(img, id, pol)
				case 1:
					recs = UnfenceBrokerRecords(img, id, pol)
				case 2:
					incarnations[id]++
					recs = RegisterBrokerRecords(img, testRegistration(id, "", 1+incarnations[id]), pol)
				case 3:
					recs = PreferredLeaderRecords(img, nil)
				case 4, 5:
					// A leader shrinks or grows its ISR with a random subset of live replicas.
					pid := int32(rng.Intn(8))
					p := img.Partition("t", pid)
					if p.Leader == NoLeader {
						continue
					}
					isr := []int32{p.Leader}
					for _, r := range p.Replicas {
						if r != p.Leader && unfenced(img, r) && rng.Intn(2) == 0 {
							isr = append(isr, r)
						}
					}
					if sameSet(isr, p.ISR) {
						continue
					}
					recs = []Record{ChangeISR{TopicID: testTopicID("t"), Partition: pid, BrokerID: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}}
				}
				if len(recs) == 0 {
					continue
				}
				next, err := ApplyBatch(img, recs)
				if err != nil {
					t.Fatalf("step %d: decided records rejected: %v", step, err)
				}
				if err := CheckInvariants(next); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				unclean := map[int32]bool{}
				for _, r := range recs {
					if e, ok := r.(ElectLeader); ok && e.Unclean {
						unclean[e.Partition] = true
					}
				}
				for pid := int32(0); pid < 8; pid++ {
					a, b := img.Partition("t", pid), next.Partition("t", pid)
					if b.LeaderEpoch < a.LeaderEpoch || b.PartitionEpoch < a.PartitionEpoch {
						t.Fatalf("step %d: t-%d epochs went back: %v → %v", step, pid, a, b)
					}
					if a.Leader != b.Leader && b.LeaderEpoch == a.LeaderEpoch {
						t.Fatalf("step %d: t-%d leader changed without a new epoch: %v → %v", step, pid, a, b)
					}
					if (a.Leader != b.Leader || !sameSet(a.ISR, b.ISR)) && b.PartitionEpoch == a.PartitionEpoch {
						t.Fatalf("step %d: t-%d changed without a new partition epoch: %v → %v", step, pid, a, b)
					}
					if b.Leader != NoLeader && b.Leader != a.Leader && !a.InISR(b.Leader) && !unclean[pid] {
						t.Fatalf("step %d: t-%d elected %d from outside the ISR %v", step, pid, b.Leader, a.ISR)
					}
					if unclean[pid] && !pol.UncleanLeaderElection {
						t.Fatalf("step %d: t-%d unclean election with it disabled", step, pid)
					}
				}
				img = next
			}
		})
	}
}
