package broker

// InitProducerId: v0-4, idempotent producers only: a transactional id is answered with
// UNSUPPORTED_VERSION until transactions exist. Producer ids come from blocks of
// producerIDBlockSize reserved in the topics file (saved and fsynced, off the event loop) before
// the block's first id is handed out, so they are never reused across restarts, and only one
// InitProducerId in a block writes anything: the rest are answered from memory, also on a full
// disk, where a save fails with KAFKA_STORAGE_ERROR (and franz-go retries that without backoff).
// Kafka's controller hands out blocks of the same size. In cluster mode they come from blocks the
// Raft controller allocates to each broker.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(22, 0, 4, offLoop(handleInitProducerID)) }

func handleInitProducerID(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.InitProducerIDRequest)
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	if r.TransactionalID != nil {
		resp.ErrorCode = errUnsupportedVersion
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	if l := b.link.Load(); l != nil {
		// Cluster mode: ids from this broker's block, allocated by the controller (controller.go).
		ctx, cancel := context.WithTimeout(context.Background(), isrChangeTimeout)
		defer cancel()
		id, err := l.nextProducerID(ctx)
		if err != nil {
			b.logger.Warn("no producer id block from the controller", "err", err)
			resp.ErrorCode = errRequestTimedOut // retriable: the controller may be electing
			resp.ProducerID, resp.ProducerEpoch = -1, -1
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp
	}
	id, err := b.takeProducerID()
	if err != nil {
		// Not logged: franz-go retries this without backoff, thousands of times a second, and
		// the full disk behind it already shows in the refused appends' log lines.
		resp.ErrorCode = errKafkaStorage
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

// producerIDBlockSize is how many producer ids one save of the topics file reserves.
const producerIDBlockSize = 1000

// takeProducerID hands out the next producer id, first reserving the next block on disk when the
// reserved one is used up. Single-broker mode.
func (b *Broker) takeProducerID() (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextProducerID
	if id >= b.producerIDLimit {
		b.producerIDLimit = id + producerIDBlockSize
		if err := b.saveTopicsLocked(); err != nil {
			b.producerIDLimit = id // nothing reserved: the id is not handed out
			return 0, err
		}
	}
	b.nextProducerID = id + 1
	return id, nil
}
