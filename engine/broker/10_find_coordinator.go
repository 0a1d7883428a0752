package broker

// FindCoordinator: v0-4 (v4 batches keys). This node coordinates every group and, were
// transactions served, every transactional id: the answer is always this node at its advertised
// address. Key types other than group (0) and transaction (1) — share groups (2) arrive with v6,
// which is not served — get INVALID_REQUEST.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(10, 0, 4, simple(handleFindCoordinator)) }

func handleFindCoordinator(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.FindCoordinatorRequest)
	resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
	adv := b.advertised.Load()
	nodeID, host, port, code := b.cfg.NodeID, adv.host, adv.port, errNone
	var msg *string
	if r.CoordinatorType != 0 && r.CoordinatorType != 1 {
		nodeID, host, port, code = -1, "", -1, errInvalidRequest
		msg = strPtr("unknown coordinator key type")
	}
	if r.Version >= 4 {
		for _, key := range r.CoordinatorKeys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = key, nodeID, host, port, code, msg
			resp.Coordinators = append(resp.Coordinators, c)
		}
		return resp
	}
	resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = nodeID, host, port, code, msg
	return resp
}
