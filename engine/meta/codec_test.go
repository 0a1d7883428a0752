package meta

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// allRecords holds one record of every type, with every field set.
func allRecords() []Record {
	tid := testTopicID("t")
	return []Record{
		RegisterBroker{BrokerID: 3, IncarnationID: incarnation(7), Rack: "r1", Endpoints: []Endpoint{
			{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}, {Listener: "CONTROLLER", Host: "::1", Port: 19092}}},
		FenceBroker{BrokerID: 3, BrokerEpoch: 1 << 40},
		UnfenceBroker{BrokerID: 0, BrokerEpoch: 1},
		CreateTopic{Name: "orders", TopicID: tid, Configs: map[string]string{"retention.ms": "1000", "a": ""},
			Partitions: []PartitionAssignment{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1}, {Replicas: []int32{2}, ISR: []int32{2}, Leader: 2}}},
		DeleteTopic{Name: "orders", TopicID: tid},
		CreatePartitions{TopicID: tid, FirstPartition: 2, Partitions: []PartitionAssignment{{Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}}},
		AlterTopicConfig{TopicID: tid, Changes: []ConfigChange{{Name: "a", Value: "b"}, {Name: "c", Delete: true}}},
		ChangeISR{TopicID: tid, Partition: 4, BrokerID: 2, LeaderEpoch: 9, PartitionEpoch: 11, ISR: []int32{2, 3}},
		ElectLeader{TopicID: tid, Partition: 1, PartitionEpoch: 5, Leader: NoLeader, ISR: []int32{3}},
		ElectLeader{TopicID: tid, Partition: 1, PartitionEpoch: 6, Leader: 2, ISR: []int32{2}, Unclean: true},
		AllocateProducerIDs{BrokerID: 1, BrokerEpoch: 4, FirstProducerID: 1 << 50, Size: 1000},
		ReassignPartition{TopicID: tid, Partition: 2, PartitionEpoch: 7, Replicas: []int32{4, 2, 1}, Adding: []int32{4},
			Removing: []int32{1}, ISR: []int32{1, 2}, Leader: 1},
	}
}

func TestBatchRoundTrip(t *testing.T) {
	recs := allRecords()
	seen := map[RecordType]bool{}
	for _, r := range recs {
		seen[r.Type()] = true
	}
	if len(seen) != len(recordTypeNames) {
		t.Fatalf("allRecords covers %d of %d record types", len(seen), len(recordTypeNames))
	}
	for i := range recs {
		one := recs[i : i+1]
		got, err := DecodeBatch(AppendBatch(nil, one))
		if err != nil {
			t.Fatalf("%s: %v", FormatRecord(nil, one[0]), err)
		}
		if !reflect.DeepEqual(got, one) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, one)
		}
	}
	enc := AppendBatch([]byte("prefix"), recs)
	got, err := DecodeBatch(enc[len("prefix"):])
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("batch round trip: %v", err)
	}
	if got, err := DecodeBatch(AppendBatch(nil, nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v %v", got, err)
	}
}

func TestBatchDecodeErrors(t *testing.T) {
	good := AppendBatch(nil, allRecords())
	for _, tc := range []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"bad version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte(nil), good...), 0)},
		{"unknown type", []byte{batchVersion, 1, 200}},
		{"huge count", []byte{batchVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"int32 overflow", append([]byte{batchVersion, 1, byte(TypeFenceBroker)}, 0x80, 0x80, 0x80, 0x80, 0x20, 2)},
		{"bad bool", []byte{batchVersion, 1, byte(TypeElectLeader)}},
	} {
		if _, err := DecodeBatch(tc.buf); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", tc.name, err)
		}
	}
}

// scenarioImage is an image with every kind of state in it.
func scenarioImage(t testing.TB) *Image {
	img := newTestImage(t, 4)
	var err error
	rec, err := CreateTopicRecord(img, "orders", testTopicID("orders"), 6, 3, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	steps := []func(*Image) []Record{
		func(*Image) []Record { return []Record{rec} },
		func(*Image) []Record { return []Record{testRegistration(9, "rack-b", 1)} },
		func(img *Image) []Record { return FenceBrokerRecords(img, 2, Policy{}) },
		func(*Image) []Record {
			return []Record{AllocateProducerIDs{BrokerID: 1, BrokerEpoch: 1, FirstProducerID: 0, Size: 1000}}
		},
		func(*Image) []Record {
			return []Record{AllocateProducerIDs{BrokerID: 3, BrokerEpoch: 3, FirstProducerID: 1000, Size: 1000}}
		},
		func(img *Image) []Record { // a reassignment in progress
			p := img.Partition("orders", 0)
			target := []int32{9}
			for _, r := range p.Replicas {
				if r != 9 && len(target) < 3 {
					target = append(target, r)
				}
			}
			rec, err := ReassignPartitionRecord(img, "orders", 0, target)
			if err != nil {
				t.Fatal(err)
			}
			return []Record{rec}
		},
	}
	for _, step := range steps {
		if img, err = ApplyBatch(img, step(img)); err != nil {
			t.Fatal(err)
		}
	}
	if !img.Partition("orders", 0).Reassigning() {
		t.Fatalf("scenario without a reassignment in progress:\n%s", img)
	}
	img.offset = 42
	return img
}

func TestImageRoundTrip(t *testing.T) {
	for _, img := range []*Image{Empty, scenarioImage(t)} {
		enc := EncodeImage(img)
		got, err := DecodeImage(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(EncodeImage(got), enc) || got.String() != img.String() {
			t.Fatalf("round trip differs:\n%s\nvs\n%s", got, img)
		}
		if !reflect.DeepEqual(got, img) {
			t.Fatalf("round trip differs structurally:\n%#v\nvs\n%#v", got, img)
		}
	}
}

// TestImageCorruption flips every bit of an encoded image in turn: each flip must be caught (CRC,
// framing or invariants), never decoded into a different image.
func TestImageCorruption(t *testing.T) {
	enc := EncodeImage(scenarioImage(t))
	for i := 0; i < len(enc)*8; i++ {
		bad := append([]byte(nil), enc...)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := DecodeImage(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d flipped: got %v", i, err)
		}
	}
	for n := 0; n < len(enc); n++ {
		if _, err := DecodeImage(enc[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: got %v", n, err)
		}
	}
}

// TestImageDecodeChecksInvariants: a well-formed, correctly summed image that breaks an invariant
// (here a fenced leader, as a buggy or malicious node might send) is refused.
func TestImageDecodeChecksInvariants(t *testing.T) {
	img := scenarioImage(t).clone()
	b := *img.brokers[1]
	b.Fenced = true
	img.brokers[1] = &b
	if err := CheckInvariants(img); err == nil {
		t.Fatal("expected a broken invariant")
	}
	if _, err := DecodeImage(EncodeImage(img)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(AppendBatch(nil, allRecords()))
	for _, r := range allRecords() {
		f.Add(AppendBatch(nil, []Record{r}))
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		recs, err := DecodeBatch(buf)
		if err != nil {
			return
		}
		again, err := DecodeBatch(AppendBatch(nil, recs))
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(recs)) {
			t.Fatalf("re-encoding changed the batch: %v", err)
		}
		// Whatever decodes must apply or be rejected, never panic or break an invariant.
		if img, err := ApplyBatch(Empty, recs); err == nil {
			if err := CheckInvariants(img); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// normalize makes empty and nil maps and slices compare equal.
func normalize(recs []Record) string { return string(AppendBatch(nil, recs)) }

func FuzzDecodeImage(f *testing.F) {
	f.Add(EncodeImage(Empty))
	f.Add(EncodeImage(scenarioImage(f)))
	f.Fuzz(func(t *testing.T, buf []byte) {
		img, err := DecodeImage(buf)
		if err != nil {
			return
		}
		again, err := DecodeImage(EncodeImage(img))
		if err != nil || !bytes.Equal(EncodeImage(again), EncodeImage(img)) {
			t.Fatalf("a decoded image does not round-trip: %v", err)
		}
	})
}
