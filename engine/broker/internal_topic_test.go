package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// A client's Produce to __consumer_offsets is refused with INVALID_TOPIC_EXCEPTION, as Kafka
// refuses appends to internal topics: only the group coordinator writes there.
func TestProduceToInternalTopicRefused(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	adm := kadm.NewClient(tb.client())
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, offsetsTopic); err != nil {
		t.Fatal(err)
	}
	p := rawProduce(t, tb.addr, offsetsTopic, 0, 1, 5000, "forged")
	if p.ErrorCode != errInvalidTopic {
		t.Fatalf("produce to %s: error %d, want INVALID_TOPIC_EXCEPTION (%d)", offsetsTopic, p.ErrorCode, errInvalidTopic)
	}
}
