package group

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"testing"
)

func TestOffsetKeyRoundTripAndOrder(t *testing.T) {
	type k struct {
		group, topic string
		partition    int32
	}
	keys := []k{
		{"", "", 0}, {"a", "t", 0}, {"a", "t", 1}, {"a", "t", 256}, {"a", "t", 1 << 30},
		{"a", "u", 0}, {"a\x00", "t", 0}, {"a\x00b", "t\x00", 3}, {"ab", "t", 0}, {"b", "", 0},
		{"\x00\x00\xff", "\xff", 7}, {"grp/with/slashes", "topic.with-dots_and", 9},
	}
	var encoded [][]byte
	for _, want := range keys {
		b := OffsetKey(want.group, want.topic, want.partition)
		g, topic, p, err := decodeOffsetKey(b)
		if err != nil || g != want.group || topic != want.topic || p != want.partition {
			t.Fatalf("%q/%q/%d: decoded %q/%q/%d, %v", want.group, want.topic, want.partition, g, topic, p, err)
		}
		if !bytes.HasPrefix(b, offsetGroupPrefix(want.group)) || !bytes.HasPrefix(b, offsetTopicPrefix(want.group, want.topic)) {
			t.Fatalf("%q/%q: key % x lacks its group or topic prefix", want.group, want.topic, b)
		}
		encoded = append(encoded, b)
	}
	// Keys sort by group, then topic, then partition number, so prefix ranges are exact.
	sorted := append([][]byte(nil), encoded...)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i], sorted[j]) < 0 })
	for i := range keys {
		for j := range keys {
			a, b := keys[i], keys[j]
			less := a.group < b.group || a.group == b.group && (a.topic < b.topic || a.topic == b.topic && a.partition < b.partition)
			if got := bytes.Compare(encoded[i], encoded[j]) < 0; got != less {
				t.Errorf("order of %+v and %+v: encoded less=%v, want %v", a, b, got, less)
			}
		}
	}
	// No group's prefix range contains another group's keys.
	for i := range keys {
		lo, hi := offsetGroupPrefix(keys[i].group), prefixEnd(offsetGroupPrefix(keys[i].group))
		for j, e := range encoded {
			in := bytes.Compare(e, lo) >= 0 && bytes.Compare(e, hi) < 0
			if in != (keys[j].group == keys[i].group) {
				t.Errorf("key of %+v in the range of group %q: %v", keys[j], keys[i].group, in)
			}
		}
	}
	for _, name := range []string{"", "g", "a\x00b"} {
		got, err := decodeGroupKey(GroupKey(name))
		if err != nil || got != name {
			t.Fatalf("group key %q: %q %v", name, got, err)
		}
	}
}

func TestValueRoundTrips(t *testing.T) {
	inst := "i-1"
	groups := []GroupValue{
		{},
		{ProtocolType: "consumer", Generation: 7, Protocol: "cooperative-sticky", Leader: "m1", StateTimestampMs: 1700000000000,
			Members: []MemberValue{
				{MemberID: "m1", ClientID: "c", ClientHost: "/127.0.0.1", RebalanceTimeoutMs: 60000, SessionTimeoutMs: 45000, Subscription: []byte{0, 1, 2}, Assignment: []byte("a")},
				{MemberID: "m2", InstanceID: &inst, Subscription: nil, Assignment: []byte{}},
			}},
	}
	for _, want := range groups {
		got, err := DecodeGroupValue(AppendGroupValue(nil, want))
		if err != nil {
			t.Fatal(err)
		}
		normalize := func(v *GroupValue) {
			for i := range v.Members {
				if len(v.Members[i].Subscription) == 0 {
					v.Members[i].Subscription = nil
				}
				if len(v.Members[i].Assignment) == 0 {
					v.Members[i].Assignment = nil
				}
			}
		}
		normalize(&want)
		normalize(&got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("group value round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	offsets := []OffsetValue{{}, {Offset: -1, LeaderEpoch: -1, ExpireTimestampMs: -1}, {Offset: 1 << 40, LeaderEpoch: 5, Metadata: "meta\x00data", CommitTimestampMs: 123, ExpireTimestampMs: 456}}
	for _, want := range offsets {
		got, err := DecodeOffsetValue(AppendOffsetValue(nil, want))
		if err != nil || got != want {
			t.Fatalf("offset value round trip: %+v, %v; want %+v", got, err, want)
		}
	}
	recs := []Record{
		SetOffsetRecord("g", "t", 3, offsets[2]), DeleteOffsetRecord("g", "t", 3),
		DeleteGroupOffsetsRecord("g"), DeleteTopicOffsetsRecord("g", "t"),
		SetGroupRecord("g", groups[1]), DeleteGroupRecord("g"),
	}
	var buf []byte
	for _, r := range recs {
		buf = AppendRecord(buf, r)
	}
	for i, want := range recs {
		got, rest, err := ReadRecord(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.Type != want.Type || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
			t.Fatalf("record %d: %+v, want %+v", i, got, want)
		}
		buf = rest
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
}

func TestDecodersRejectCorruption(t *testing.T) {
	good := AppendGroupValue(nil, GroupValue{ProtocolType: "consumer", Members: []MemberValue{{MemberID: "m"}}})
	for i := range good {
		if _, err := DecodeGroupValue(good[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("group value cut at %d of %d: %v, want ErrCorrupt", i, len(good), err)
		}
	}
	if _, err := DecodeGroupValue(append(good, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := DecodeOffsetValue([]byte{9}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown version: %v", err)
	}
	for _, bad := range []Record{{Type: 0, Key: []byte("k")}, {Type: RecordSet}, {Type: RecordDeleteRange, Key: []byte("b"), Value: []byte("a")}} {
		if _, _, err := ReadRecord(AppendRecord(nil, bad)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("record %+v: %v", bad, err)
		}
	}
}

// Decoders of stored and shipped bytes never panic, and what they accept re-encodes to the input.
func FuzzDecodeGroupValue(f *testing.F) {
	inst := "i"
	f.Add(AppendGroupValue(nil, GroupValue{ProtocolType: "consumer", Generation: 3, Members: []MemberValue{{MemberID: "m", InstanceID: &inst, Assignment: []byte{1}}}}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeGroupValue(b)
		if err != nil {
			return
		}
		if re := AppendGroupValue(nil, v); !bytes.Equal(re, b) {
			// Only the instance-id flag may differ (any non-1 byte reads as null).
			if _, err := DecodeGroupValue(re); err != nil {
				t.Fatalf("re-encoded value does not decode: %v", err)
			}
		}
	})
}

func FuzzReadRecord(f *testing.F) {
	f.Add(AppendRecord(nil, SetOffsetRecord("g", "t", 1, OffsetValue{Offset: 5})))
	f.Add(AppendRecord(nil, DeleteGroupOffsetsRecord("g")))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, rest, err := ReadRecord(b)
		if err != nil {
			return
		}
		if re := AppendRecord(nil, r); !bytes.Equal(append(re, rest...), b) {
			t.Fatalf("record % x re-encodes to % x", b, re)
		}
		if r.Type == RecordSet && r.Key[0] == keyPrefixOffset {
			DecodeOffsetValue(r.Value) // must not panic
		}
	})
}
