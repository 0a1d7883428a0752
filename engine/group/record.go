package group

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The coordinator's durable state is a set of key/value pairs, the same two kinds Kafka keeps in
// __consumer_offsets:
//
//	offset:  'o' | esc(group) | esc(topic) | partition (uint32, big-endian)  →  OffsetValue
//	group:   'g' | esc(group)                                               →  GroupValue
//	applied: 'a' | partition (uint32, big-endian)                            →  offset (int64)
//
// The applied keys exist only in a cluster: per partition of the internal __consumer_offsets
// topic, the offset below which every record is in the store (replicated.go).
//
// esc(s) is s with every 0x00 byte written as 0x00 0xFF, then the terminator 0x00 0x01. Keys
// therefore sort by group, then topic, then partition number, and every key of one group (or one
// group and topic) shares a prefix no other group's keys have: a group's offsets, and its lag,
// are one range read, and deleting them is one range delete.
//
// Values start with a format version byte (0 today) so that later versions can add fields.

const (
	keyPrefixGroup   byte = 'g'
	keyPrefixOffset  byte = 'o'
	keyPrefixApplied byte = 'a'

	valueVersion0 byte = 0

	escByte       byte = 0x00
	escEscaped    byte = 0xFF // 0x00 0xFF is a 0x00 inside the string
	escTerminator byte = 0x01 // 0x00 0x01 ends the string
)

// ErrCorrupt marks a stored key or value that does not decode.
var ErrCorrupt = errors.New("group: corrupt record")

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		dst = append(dst, s[i])
		if s[i] == escByte {
			dst = append(dst, escEscaped)
		}
	}
	return append(dst, escByte, escTerminator)
}

// readEscaped decodes one escaped string from the front of b.
func readEscaped(b []byte) (s string, rest []byte, ok bool) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case escTerminator:
			if out == nil {
				return string(b[:i]), b[i+2:], true
			}
			return string(append(out, b[:i]...)), b[i+2:], true
		case escEscaped:
			out = append(out, b[:i+1]...)
			b = b[i+2:]
			i = -1
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

// GroupKey is the key of a group's metadata.
func GroupKey(group string) []byte {
	return appendEscaped([]byte{keyPrefixGroup}, group)
}

// OffsetKey is the key of a group's committed offset for one partition.
func OffsetKey(group, topic string, partition int32) []byte {
	k := make([]byte, 0, 1+len(group)+2+len(topic)+2+4)
	k = appendEscaped(append(k, keyPrefixOffset), group)
	k = appendEscaped(k, topic)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

func appliedKey(partition int32) []byte {
	return binary.BigEndian.AppendUint32([]byte{keyPrefixApplied}, uint32(partition))
}

// offsetGroupPrefix prefixes every offset key of group.
func offsetGroupPrefix(group string) []byte {
	return appendEscaped([]byte{keyPrefixOffset}, group)
}

// offsetTopicPrefix prefixes every offset key of group for topic.
func offsetTopicPrefix(group, topic string) []byte {
	return appendEscaped(offsetGroupPrefix(group), topic)
}

// prefixEnd is the smallest key greater than every key starting with p. Every prefix used here
// ends with an escape terminator (0x01) or a prefix byte, so incrementing the last byte is enough.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	if end[len(end)-1] == 0xFF {
		panic("BUG: group: prefixEnd of a prefix ending in 0xFF")
	}
	end[len(end)-1]++
	return end
}

// decodeOffsetKey splits an offset key.
func decodeOffsetKey(k []byte) (group, topic string, partition int32, err error) {
	if len(k) == 0 || k[0] != keyPrefixOffset {
		return "", "", 0, fmt.Errorf("%w: offset key % x", ErrCorrupt, k)
	}
	group, rest, ok := readEscaped(k[1:])
	if ok {
		topic, rest, ok = readEscaped(rest)
	}
	if !ok || len(rest) != 4 {
		return "", "", 0, fmt.Errorf("%w: offset key % x", ErrCorrupt, k)
	}
	return group, topic, int32(binary.BigEndian.Uint32(rest)), nil
}

// decodeGroupKey returns the group a group key names.
func decodeGroupKey(k []byte) (string, error) {
	if len(k) == 0 || k[0] != keyPrefixGroup {
		return "", fmt.Errorf("%w: group key % x", ErrCorrupt, k)
	}
	g, rest, ok := readEscaped(k[1:])
	if !ok || len(rest) != 0 {
		return "", fmt.Errorf("%w: group key % x", ErrCorrupt, k)
	}
	return g, nil
}

// OffsetValue is a committed offset (Kafka's OffsetCommitValue).
type OffsetValue struct {
	Offset            int64
	LeaderEpoch       int32 // -1: not given
	Metadata          string
	CommitTimestampMs int64
	// ExpireTimestampMs is when the offset expires if the committer set a retention time
	// (OffsetCommit v2-4); -1 leaves it to offsets.retention.minutes.
	ExpireTimestampMs int64
}

// AppendOffsetValue appends v's encoding: version | offset i64 | leader epoch i32 | commit
// timestamp i64 | expire timestamp i64 | metadata (uvarint length, bytes).
func AppendOffsetValue(dst []byte, v OffsetValue) []byte {
	dst = append(dst, valueVersion0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.Offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.LeaderEpoch))
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.CommitTimestampMs))
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.ExpireTimestampMs))
	return appendString(dst, v.Metadata)
}

// DecodeOffsetValue decodes an offset value.
func DecodeOffsetValue(b []byte) (OffsetValue, error) {
	r := reader{b: b}
	var v OffsetValue
	if ver := r.u8(); r.err == nil && ver != valueVersion0 {
		return v, fmt.Errorf("%w: offset value version %d", ErrCorrupt, ver)
	}
	v.Offset = r.i64()
	v.LeaderEpoch = r.i32()
	v.CommitTimestampMs = r.i64()
	v.ExpireTimestampMs = r.i64()
	v.Metadata = r.str()
	return v, r.done("offset value")
}

// GroupValue is a group's metadata as of its last rebalance (Kafka's GroupMetadataValue): what a
// restarted or new coordinator needs to keep serving the group's current generation.
type GroupValue struct {
	ProtocolType     string
	Generation       int32
	Protocol         string // the selected protocol; "" when the group has no members
	Leader           string
	StateTimestampMs int64 // when the group entered its current state (an empty group's offsets expire from here)
	Members          []MemberValue
}

// MemberValue is one member of a GroupValue.
type MemberValue struct {
	MemberID           string
	InstanceID         *string // group.instance.id of a static member
	ClientID           string
	ClientHost         string
	RebalanceTimeoutMs int32
	SessionTimeoutMs   int32
	Subscription       []byte // the member's metadata for the selected protocol
	Assignment         []byte
}

// AppendGroupValue appends v's encoding: version | protocol type | generation i32 | protocol |
// leader | state timestamp i64 | member count (uvarint) | members (member id | instance id
// (nullable) | client id | client host | rebalance timeout i32 | session timeout i32 |
// subscription | assignment). Strings and byte strings are a uvarint length and the bytes; a
// nullable string is a flag byte (0 null, 1 present) and then the string.
func AppendGroupValue(dst []byte, v GroupValue) []byte {
	dst = append(dst, valueVersion0)
	dst = appendString(dst, v.ProtocolType)
	dst = binary.BigEndian.AppendUint32(dst, uint32(v.Generation))
	dst = appendString(dst, v.Protocol)
	dst = appendString(dst, v.Leader)
	dst = binary.BigEndian.AppendUint64(dst, uint64(v.StateTimestampMs))
	dst = binary.AppendUvarint(dst, uint64(len(v.Members)))
	for _, m := range v.Members {
		dst = appendString(dst, m.MemberID)
		if m.InstanceID == nil {
			dst = append(dst, 0)
		} else {
			dst = appendString(append(dst, 1), *m.InstanceID)
		}
		dst = appendString(dst, m.ClientID)
		dst = appendString(dst, m.ClientHost)
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.RebalanceTimeoutMs))
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.SessionTimeoutMs))
		dst = appendBytes(dst, m.Subscription)
		dst = appendBytes(dst, m.Assignment)
	}
	return dst
}

// DecodeGroupValue decodes a group value. The byte strings it returns are copies.
func DecodeGroupValue(b []byte) (GroupValue, error) {
	r := reader{b: b}
	var v GroupValue
	if ver := r.u8(); r.err == nil && ver != valueVersion0 {
		return v, fmt.Errorf("%w: group value version %d", ErrCorrupt, ver)
	}
	v.ProtocolType = r.str()
	v.Generation = r.i32()
	v.Protocol = r.str()
	v.Leader = r.str()
	v.StateTimestampMs = r.i64()
	n := r.uvarint()
	// Every member takes at least 14 bytes: a bound on n that needs no trust in the input.
	if r.err == nil && n > uint64(len(r.b))/14 {
		return v, fmt.Errorf("%w: group value claims %d members in %d bytes", ErrCorrupt, n, len(r.b))
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		var m MemberValue
		m.MemberID = r.str()
		if r.u8() == 1 {
			s := r.str()
			m.InstanceID = &s
		}
		m.ClientID = r.str()
		m.ClientHost = r.str()
		m.RebalanceTimeoutMs = r.i32()
		m.SessionTimeoutMs = r.i32()
		m.Subscription = r.bytesCopy()
		m.Assignment = r.bytesCopy()
		v.Members = append(v.Members, m)
	}
	return v, r.done("group value")
}

// RecordType says what a Record does to the store.
type RecordType uint8

const (
	RecordSet         RecordType = 1 // Key := Value
	RecordDelete      RecordType = 2 // remove Key (a tombstone)
	RecordDeleteRange RecordType = 3 // remove every key in [Key, Value)
)

// Record is one durable change of coordinator state: what the coordinator hands to its journal
// and what an Applier applies. Records are self-contained (no reads needed to apply them), so
// applying the same sequence to any replica's store gives the same state.
type Record struct {
	Type  RecordType
	Key   []byte
	Value []byte // RecordSet: the value; RecordDeleteRange: the end key (exclusive)
}

// SetOffsetRecord stores a committed offset.
func SetOffsetRecord(group, topic string, partition int32, v OffsetValue) Record {
	return Record{Type: RecordSet, Key: OffsetKey(group, topic, partition), Value: AppendOffsetValue(nil, v)}
}

// DeleteOffsetRecord removes one committed offset.
func DeleteOffsetRecord(group, topic string, partition int32) Record {
	return Record{Type: RecordDelete, Key: OffsetKey(group, topic, partition)}
}

// DeleteGroupOffsetsRecord removes every offset of group.
func DeleteGroupOffsetsRecord(group string) Record {
	p := offsetGroupPrefix(group)
	return Record{Type: RecordDeleteRange, Key: p, Value: prefixEnd(p)}
}

// DeleteTopicOffsetsRecord removes every offset of group for topic.
func DeleteTopicOffsetsRecord(group, topic string) Record {
	p := offsetTopicPrefix(group, topic)
	return Record{Type: RecordDeleteRange, Key: p, Value: prefixEnd(p)}
}

// SetGroupRecord stores a group's metadata.
func SetGroupRecord(group string, v GroupValue) Record {
	return Record{Type: RecordSet, Key: GroupKey(group), Value: AppendGroupValue(nil, v)}
}

// DeleteGroupRecord removes a group's metadata.
func DeleteGroupRecord(group string) Record {
	return Record{Type: RecordDelete, Key: GroupKey(group)}
}

// AppendRecord appends r's encoding, for shipping records through a replicated log: type u8 |
// key (uvarint length, bytes) | value (uvarint length, bytes).
func AppendRecord(dst []byte, r Record) []byte {
	dst = append(dst, byte(r.Type))
	dst = appendBytes(dst, r.Key)
	return appendBytes(dst, r.Value)
}

// ReadRecord decodes one record from the front of b and returns the rest. Key and Value alias b.
func ReadRecord(b []byte) (Record, []byte, error) {
	r := reader{b: b}
	rec := Record{Type: RecordType(r.u8())}
	rec.Key = r.bytesNoCopy()
	rec.Value = r.bytesNoCopy()
	if r.err != nil {
		return Record{}, nil, fmt.Errorf("%w: record: %v", ErrCorrupt, r.err)
	}
	if err := rec.validate(); err != nil {
		return Record{}, nil, err
	}
	return rec, r.b, nil
}

func (r Record) validate() error {
	switch {
	case r.Type < RecordSet || r.Type > RecordDeleteRange:
		return fmt.Errorf("%w: record type %d", ErrCorrupt, r.Type)
	case len(r.Key) == 0:
		return fmt.Errorf("%w: record with an empty key", ErrCorrupt)
	case r.Type == RecordDeleteRange && string(r.Value) <= string(r.Key):
		return fmt.Errorf("%w: empty delete range [% x, % x)", ErrCorrupt, r.Key, r.Value)
	}
	return nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// reader decodes big-endian fields with a sticky error: callers check once, at the end.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("short input")

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errShort
		r.b = nil
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) i32() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (r *reader) i64() int64 {
	if p := r.take(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytesNoCopy() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	return r.take(int(n))
}

func (r *reader) bytesCopy() []byte {
	p := r.bytesNoCopy()
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

func (r *reader) str() string { return string(r.bytesNoCopy()) }

// done reports the sticky error, or trailing bytes, as corruption of what.
func (r *reader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrCorrupt, what, len(r.b))
	}
	return nil
}
