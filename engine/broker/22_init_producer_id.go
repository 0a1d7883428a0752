package broker

// InitProducerId: v0-4, idempotent producers only. A transactional id gets
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED's neighbour UNSUPPORTED_VERSION with a message until
// transactions exist. Producer ids come from a counter saved in the topics file, so they are never
// reused across restarts.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(22, 0, 4, simple(handleInitProducerID)) }

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
