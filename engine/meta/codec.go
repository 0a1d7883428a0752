package meta

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
)

// Encodings. Integers are varints (zig-zag for signed), strings and byte strings are a uvarint
// length then the bytes, lists a uvarint count then the items, maps are lists sorted by key so
// equal images encode to equal bytes (the cluster test compares nodes' images this way).
//
// A Raft entry is a record batch:
//
//	batch   = version:u8 (=1) count:uvarint record{count}
//	record  = type:u8 body        (body per record type, fields in declaration order)
//
// A snapshot is an image:
//
//	image   = "SLMI" version:u8 (=2) body crc32c:u32be   (the CRC covers everything before it)
//
// Version 2 added each partition's adding and removing replicas (reassignments); version 1
// images decode with none.
//
// Decoders never allocate more than the input could describe (every list item takes at least
// one byte), reject trailing bytes, and return errors wrapping ErrCorrupt.

const (
	batchVersion = 1
	imageVersion = 2
	imageMagic   = "SLMI"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendBatch appends the encoding of a record batch to dst.
func AppendBatch(dst []byte, recs []Record) []byte {
	dst = append(dst, batchVersion)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for _, r := range recs {
		dst = appendRecord(dst, r)
	}
	return dst
}

// DecodeBatch decodes a record batch. The records do not alias buf.
func DecodeBatch(buf []byte) ([]Record, error) {
	d := &decoder{b: buf}
	if v := d.u8(); d.err == nil && v != batchVersion {
		return nil, fmt.Errorf("%w: batch version %d", ErrCorrupt, v)
	}
	n := d.count()
	recs := make([]Record, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		recs = append(recs, d.record())
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return recs, nil
}

func appendRecord(dst []byte, rec Record) []byte {
	e := encoder(dst)
	e.u8(uint8(rec.Type()))
	switch r := rec.(type) {
	case RegisterBroker:
		e.i64(int64(r.BrokerID))
		e.raw16(r.IncarnationID)
		e.uvarint(uint64(len(r.Endpoints)))
		for _, ep := range r.Endpoints {
			e.str(ep.Listener)
			e.str(ep.Host)
			e.i64(int64(ep.Port))
		}
		e.str(r.Rack)
	case FenceBroker:
		e.i64(int64(r.BrokerID))
		e.i64(r.BrokerEpoch)
	case UnfenceBroker:
		e.i64(int64(r.BrokerID))
		e.i64(r.BrokerEpoch)
	case CreateTopic:
		e.str(r.Name)
		e.raw16(r.TopicID)
		e.configs(r.Configs)
		e.assignments(r.Partitions)
	case DeleteTopic:
		e.str(r.Name)
		e.raw16(r.TopicID)
	case CreatePartitions:
		e.raw16(r.TopicID)
		e.i64(int64(r.FirstPartition))
		e.assignments(r.Partitions)
	case AlterTopicConfig:
		e.raw16(r.TopicID)
		e.uvarint(uint64(len(r.Changes)))
		for _, c := range r.Changes {
			e.str(c.Name)
			e.str(c.Value)
			e.bool(c.Delete)
		}
	case ChangeISR:
		e.raw16(r.TopicID)
		e.i64(int64(r.Partition))
		e.i64(int64(r.BrokerID))
		e.i64(int64(r.LeaderEpoch))
		e.i64(int64(r.PartitionEpoch))
		e.int32s(r.ISR)
	case ElectLeader:
		e.raw16(r.TopicID)
		e.i64(int64(r.Partition))
		e.i64(int64(r.PartitionEpoch))
		e.i64(int64(r.Leader))
		e.int32s(r.ISR)
		e.bool(r.Unclean)
	case AllocateProducerIDs:
		e.i64(int64(r.BrokerID))
		e.i64(r.BrokerEpoch)
		e.i64(r.FirstProducerID)
		e.i64(int64(r.Size))
	case ReassignPartition:
		e.raw16(r.TopicID)
		e.i64(int64(r.Partition))
		e.i64(int64(r.PartitionEpoch))
		e.int32s(r.Replicas)
		e.int32s(r.Adding)
		e.int32s(r.Removing)
		e.int32s(r.ISR)
		e.i64(int64(r.Leader))
	default:
		panic(fmt.Sprintf("BUG: meta: encoding unknown record %T", rec))
	}
	return e
}

func (d *decoder) record() Record {
	t := RecordType(d.u8())
	if d.err != nil {
		return nil
	}
	switch t {
	case TypeRegisterBroker:
		r := RegisterBroker{BrokerID: d.i32(), IncarnationID: d.raw16()}
		n := d.count()
		for i := 0; i < n && d.err == nil; i++ {
			r.Endpoints = append(r.Endpoints, Endpoint{Listener: d.str(), Host: d.str(), Port: d.i32()})
		}
		r.Rack = d.str()
		return r
	case TypeFenceBroker:
		return FenceBroker{BrokerID: d.i32(), BrokerEpoch: d.i64()}
	case TypeUnfenceBroker:
		return UnfenceBroker{BrokerID: d.i32(), BrokerEpoch: d.i64()}
	case TypeCreateTopic:
		return CreateTopic{Name: d.str(), TopicID: d.raw16(), Configs: d.configs(), Partitions: d.assignments()}
	case TypeDeleteTopic:
		return DeleteTopic{Name: d.str(), TopicID: d.raw16()}
	case TypeCreatePartitions:
		return CreatePartitions{TopicID: d.raw16(), FirstPartition: d.i32(), Partitions: d.assignments()}
	case TypeAlterTopicConfig:
		r := AlterTopicConfig{TopicID: d.raw16()}
		n := d.count()
		for i := 0; i < n && d.err == nil; i++ {
			r.Changes = append(r.Changes, ConfigChange{Name: d.str(), Value: d.str(), Delete: d.bool()})
		}
		return r
	case TypeChangeISR:
		return ChangeISR{TopicID: d.raw16(), Partition: d.i32(), BrokerID: d.i32(), LeaderEpoch: d.i32(), PartitionEpoch: d.i32(), ISR: d.int32s()}
	case TypeElectLeader:
		return ElectLeader{TopicID: d.raw16(), Partition: d.i32(), PartitionEpoch: d.i32(), Leader: d.i32(), ISR: d.int32s(), Unclean: d.bool()}
	case TypeAllocateProducerIDs:
		return AllocateProducerIDs{BrokerID: d.i32(), BrokerEpoch: d.i64(), FirstProducerID: d.i64(), Size: d.i32()}
	case TypeReassignPartition:
		return ReassignPartition{TopicID: d.raw16(), Partition: d.i32(), PartitionEpoch: d.i32(), Replicas: d.int32s(),
			Adding: d.int32s(), Removing: d.int32s(), ISR: d.int32s(), Leader: d.i32()}
	default:
		d.fail("unknown record type %d", uint8(t))
		return nil
	}
}

// EncodeImage encodes a whole image (a snapshot).
func EncodeImage(img *Image) []byte {
	e := encoder(make([]byte, 0, 256))
	e = append(e, imageMagic...)
	e.u8(imageVersion)
	e.uvarint(img.offset)
	e.i64(img.brokerEpochLast)
	e.i64(img.producerIDNext)
	brokers := img.Brokers()
	e.uvarint(uint64(len(brokers)))
	for _, b := range brokers {
		e.i64(int64(b.ID))
		e.raw16(b.IncarnationID)
		e.i64(b.Epoch)
		e.uvarint(uint64(len(b.Endpoints)))
		for _, ep := range b.Endpoints {
			e.str(ep.Listener)
			e.str(ep.Host)
			e.i64(int64(ep.Port))
		}
		e.str(b.Rack)
		e.bool(b.Fenced)
	}
	names := img.TopicNames()
	e.uvarint(uint64(len(names)))
	for _, name := range names {
		t := img.topics[name]
		e.str(t.Name)
		e.raw16(t.ID)
		e.configs(t.Configs)
		e.uvarint(uint64(len(t.Partitions)))
		for _, p := range t.Partitions {
			e.int32s(p.Replicas)
			e.int32s(p.ISR)
			e.i64(int64(p.Leader))
			e.i64(int64(p.LeaderEpoch))
			e.i64(int64(p.PartitionEpoch))
			e.int32s(p.AddingReplicas)
			e.int32s(p.RemovingReplicas)
		}
	}
	ids := make([]int32, 0, len(img.producerBlocks))
	for id := range img.producerBlocks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		blk := img.producerBlocks[id]
		e.i64(int64(blk.BrokerID))
		e.i64(blk.First)
		e.i64(int64(blk.Size))
	}
	return binary.BigEndian.AppendUint32(e, crc32.Checksum(e, castagnoli))
}

// DecodeImage decodes a snapshot and checks every invariant: an image that breaks one is
// corrupt, whatever its CRC says.
func DecodeImage(buf []byte) (*Image, error) {
	if len(buf) < len(imageMagic)+1+4 || string(buf[:len(imageMagic)]) != imageMagic {
		return nil, fmt.Errorf("%w: not an image", ErrCorrupt)
	}
	body, sum := buf[:len(buf)-4], binary.BigEndian.Uint32(buf[len(buf)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("%w: image CRC %08x, stored %08x", ErrCorrupt, got, sum)
	}
	d := &decoder{b: body[len(imageMagic):]}
	version := d.u8()
	if d.err == nil && (version < 1 || version > imageVersion) {
		return nil, fmt.Errorf("%w: image version %d", ErrCorrupt, version)
	}
	img := Empty.clone()
	img.offset = d.uvarint()
	img.brokerEpochLast = d.i64()
	img.producerIDNext = d.i64()
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		b := &Broker{ID: d.i32(), IncarnationID: d.raw16(), Epoch: d.i64()}
		m := d.count()
		for j := 0; j < m && d.err == nil; j++ {
			b.Endpoints = append(b.Endpoints, Endpoint{Listener: d.str(), Host: d.str(), Port: d.i32()})
		}
		b.Rack = d.str()
		b.Fenced = d.bool()
		if _, dup := img.brokers[b.ID]; dup {
			d.fail("broker %d twice", b.ID)
		}
		img.brokers[b.ID] = b
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		t := &Topic{Name: d.str(), ID: d.raw16(), Configs: d.configs()}
		m := d.count()
		t.Partitions = make([]Partition, 0, m)
		for j := 0; j < m && d.err == nil; j++ {
			p := Partition{Replicas: d.int32s(), ISR: d.int32s(), Leader: d.i32(), LeaderEpoch: d.i32(), PartitionEpoch: d.i32()}
			if version >= 2 {
				p.AddingReplicas, p.RemovingReplicas = nilIfEmpty(d.int32s()), nilIfEmpty(d.int32s())
			}
			t.Partitions = append(t.Partitions, p)
		}
		if _, dup := img.topics[t.Name]; dup {
			d.fail("topic %s twice", t.Name)
		}
		img.topics[t.Name] = t
		img.topicNames[t.ID] = t.Name
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		blk := ProducerIDBlock{BrokerID: d.i32(), First: d.i64(), Size: d.i32()}
		if _, dup := img.producerBlocks[blk.BrokerID]; dup {
			d.fail("producer id block of broker %d twice", blk.BrokerID)
		}
		img.producerBlocks[blk.BrokerID] = blk
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := CheckInvariants(img); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return img, nil
}

// encoder is an append-style writer.
type encoder []byte

func (e *encoder) u8(v uint8)       { *e = append(*e, v) }
func (e *encoder) uvarint(v uint64) { *e = binary.AppendUvarint(*e, v) }
func (e *encoder) i64(v int64)      { *e = binary.AppendVarint(*e, v) }
func (e *encoder) raw16(v [16]byte) { *e = append(*e, v[:]...) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); *e = append(*e, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) int32s(s []int32) { e.uvarint(uint64(len(s))); e.each32(s) }
func (e *encoder) each32(s []int32) {
	for _, v := range s {
		e.i64(int64(v))
	}
}

func (e *encoder) configs(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) assignments(ps []PartitionAssignment) {
	e.uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.int32s(p.Replicas)
		e.int32s(p.ISR)
		e.i64(int64(p.Leader))
	}
}

// decoder is a sticky-error reader: after the first error every read returns a zero value, and
// the caller checks once, at finish.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func (d *decoder) u8() uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("short input")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i64() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i32() int32 {
	v := d.i64()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("%d overflows int32", v)
		return 0
	}
	return int32(v)
}

func (d *decoder) bool() bool {
	switch v := d.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad bool %d", v)
		return false
	}
}

// count reads a list length, bounded by the bytes left (each item takes at least one byte).
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("count %d exceeds the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) raw16() [16]byte {
	var v [16]byte
	if d.err != nil {
		return v
	}
	if len(d.b) < 16 {
		d.fail("short input")
		return v
	}
	copy(v[:], d.b)
	d.b = d.b[16:]
	return v
}

func (d *decoder) int32s() []int32 {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	s := make([]int32, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		s = append(s, d.i32())
	}
	return s
}

func (d *decoder) configs() map[string]string {
	n := d.count()
	m := make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k, v := d.str(), d.str()
		if _, dup := m[k]; dup {
			d.fail("config %s twice", k)
		}
		m[k] = v
	}
	return m
}

func (d *decoder) assignments() []PartitionAssignment {
	n := d.count()
	var out []PartitionAssignment
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, PartitionAssignment{Replicas: d.int32s(), ISR: d.int32s(), Leader: d.i32()})
	}
	return out
}

func (e *encoder) bytes(b []byte) { e.uvarint(uint64(len(b))); *e = append(*e, b...) }

// bytes reads a byte string into a new slice (nil when empty).
func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}
