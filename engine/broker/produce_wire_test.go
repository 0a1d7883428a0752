package broker

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/record"
	"github.com/sluicemq/sluice/netio"
)

// captureWriter records the single answer a handler gives.
type captureWriter struct {
	body   []byte
	none   bool
	closed bool
	calls  int
}

func (c *captureWriter) Respond(parts ...netio.Part) {
	c.calls++
	for _, p := range parts {
		c.body = append(c.body, p.Bytes...)
	}
}
func (c *captureWriter) NoResponse() { c.calls++; c.none = true }
func (c *captureWriter) Close()      { c.calls++; c.closed = true }

func newTestBroker(t *testing.T) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LogDir = t.TempDir()
	cfg.Logger = nil
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.createTopicLocked("a", 2, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.createTopicLocked("small", 1, map[string]string{"max.message.bytes": "100"}); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProduceWireMatchesKmsgPath: the hand-written Produce path answers every version it serves
// exactly as the kmsg path does, byte for byte, for a request mixing good batches, an unknown
// topic, an unknown partition, a corrupt batch and an oversize one.
func TestProduceWireMatchesKmsgPath(t *testing.T) {
	for v := int16(3); v <= 11; v++ {
		wireB, kmsgB := newTestBroker(t), newTestBroker(t)
		for _, acks := range []int16{1, -1, 0, 7} {
			body := mixedProduceBody(v, acks)

			var cw, ck captureWriter
			if !serveProduceWire(wireB, &netio.Request{APIKey: 0, APIVersion: v, Body: append([]byte(nil), body...)}, &cw) {
				t.Fatalf("v%d: wire path declined", v)
			}
			kr := kmsg.NewPtrProduceRequest()
			kr.Version = v
			if err := kr.ReadFrom(append([]byte(nil), body...)); err != nil {
				t.Fatal(err)
			}
			serveProduce(kmsgB, &netio.Request{APIKey: 0, APIVersion: v}, kr, &ck)
			if cw.calls != 1 || ck.calls != 1 || cw.none != ck.none || cw.closed || ck.closed {
				t.Fatalf("v%d acks %d: answers differ in kind: wire %+v kmsg %+v", v, acks, cw, ck)
			}
			if !bytes.Equal(cw.body, ck.body) {
				a, b := kmsg.NewPtrProduceResponse(), kmsg.NewPtrProduceResponse()
				a.Version, b.Version = v, v
				ea, eb := a.ReadFrom(cw.body), b.ReadFrom(ck.body)
				t.Fatalf("v%d acks %d: responses differ\nwire (%v): %+v\nkmsg (%v): %+v", v, acks, ea, a, eb, b)
			}
			if acks == 1 && !ck.none {
				resp := kmsg.NewPtrProduceResponse()
				resp.Version = v
				if err := resp.ReadFrom(ck.body); err != nil {
					t.Fatal(err)
				}
				codes := map[string][]int16{}
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						codes[rt.Topic] = append(codes[rt.Topic], rp.ErrorCode)
					}
				}
				want := map[string][]int16{"a": {0, 0, errUnknownTopicOrPartition, errCorruptMessage}, "missing": {errUnknownTopicOrPartition}, "small": {errMessageTooLarge}}
				if !reflect.DeepEqual(codes, want) {
					t.Fatalf("v%d: error codes %v, want %v", v, codes, want)
				}
			}
		}
	}
}

// mixedProduceBody is a Produce request body mixing good batches, an unknown topic, an unknown
// partition, a corrupt batch and an oversize one (for newTestBroker's topics).
func mixedProduceBody(v, acks int16) []byte {
	good := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1, BaseTimestamp: 5}, []record.Record{{Value: []byte("v1")}, {Value: []byte("v2")}})
	big := record.AppendBatch(nil, record.BatchSpec{ProducerID: -1}, []record.Record{{Value: bytes.Repeat([]byte("x"), 200)}})
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 1
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = v, acks, 1000
	var add func(topic string, part int32, recs []byte)
	add = func(topic string, part int32, recs []byte) {
		for i := range req.Topics {
			if req.Topics[i].Topic == topic {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition, rp.Records = part, append([]byte(nil), recs...)
				req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
				return
			}
		}
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		req.Topics = append(req.Topics, rt)
		add(topic, part, recs)
	}
	add("a", 0, good)
	add("a", 1, good)
	add("a", 5, good)
	add("missing", 0, good)
	add("a", 0, corrupt)
	add("small", 0, big)
	return req.AppendTo(nil)
}

// twoRecordProduceBody is a Produce v9 request (acks=1) storing one record in each of two
// partitions of topic a — the same batch twice, returned too.
func twoRecordProduceBody() (body, batch []byte) {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks = 9, 1
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "a"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = record.AppendBatch(nil, record.BatchSpec{ProducerID: -1}, []record.Record{{Value: []byte("x")}})
	rt.Partitions = append(rt.Partitions, rp, rp)
	req.Topics = append(req.Topics, rt)
	return req.AppendTo(nil), rp.Records
}

func TestProduceWireRejectsMalformed(t *testing.T) {
	b := newTestBroker(t)
	body, _ := twoRecordProduceBody()
	for cut := 0; cut < len(body); cut++ {
		var cw captureWriter
		serveProduceWire(b, &netio.Request{APIKey: 0, APIVersion: 9, Body: body[:cut]}, &cw)
		if !cw.closed {
			t.Fatalf("a request truncated at %d of %d bytes was not refused", cut, len(body))
		}
	}
	if leo := b.lookupPartition("a", 0).log.LogEndOffset(); leo != 0 {
		t.Fatalf("malformed requests stored %d records", leo)
	}
}
