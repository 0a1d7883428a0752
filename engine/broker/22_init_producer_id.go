package broker

// InitProducerId: v0-4, idempotent producers only: a transactional id is answered with
// UNSUPPORTED_VERSION until transactions exist. Producer ids come from a counter saved (fsynced)
// in the topics file, so they are never reused across restarts; the save runs off the event loop.
// In cluster mode they come from blocks the Raft controller allocates to each broker.

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
	b.mu.Lock()
	id := b.nextProducerID.Add(1) - 1
	err := b.saveTopicsLocked()
	b.mu.Unlock()
	if err != nil {
		resp.ErrorCode = errKafkaStorage
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
