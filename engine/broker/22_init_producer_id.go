package broker

// InitProducerId: v0-4, idempotent producers only: a transactional id is answered with
// UNSUPPORTED_VERSION until transactions exist. Producer ids come from a counter saved (fsynced)
// in the topics file, so they are never reused across restarts; the save runs off the event loop.

import (
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
