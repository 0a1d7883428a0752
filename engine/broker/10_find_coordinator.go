package broker

// FindCoordinator: v0-4 (v4 batches keys). Single node: this node coordinates every group and,
// were transactions served, every transactional id, so the answer is this node at its advertised
// address. Cluster mode: a group's coordinator is the leader of its partition of
// __consumer_offsets (offsets_topic.go), COORDINATOR_NOT_AVAILABLE while that topic is being
// created (the first group lookup creates it, as in Kafka) or the partition has no leader;
// transactional ids still get this node. Key types other than group (0) and transaction (1) —
// share groups (2) arrive with v6, which is not served — get INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(10, 0, 4, simple(handleFindCoordinator)) }

func handleFindCoordinator(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	find := func(key string) (nodeID int32, host string, port int32, code int16, msg *string) {
		switch r.CoordinatorType {
		case 0:
			if l := b.link.Load(); l != nil {
				nodeID, host, port, code, m := l.findCoordinatorCluster(key)
				if m != "" {
					msg = strPtr(m)
				}
				return nodeID, host, port, code, msg
			}
		case 1:
		default:
			return -1, "", -1, errInvalidRequest, strPtr("unknown coordinator key type")
		}
		adv := b.advertised.Load()
		return b.cfg.NodeID, adv.host, adv.port, errNone, nil
	}
	if r.Version >= 4 {
		for _, key := range r.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = key
			c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = find(key)
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp
	}
	resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = find(r.CoordinatorKey)
	return resp
}
