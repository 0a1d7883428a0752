package broker

// OffsetFetch: v0-8 — one group (v0-7), several groups (v8); topics by name (v9, KIP-848 member
// epochs, and v10, topic ids, are not served). Topics null (v2+) means every committed offset of
// the group. Answered at once from the group store: point gets, or one range read per group. A
// partition without a committed offset gets -1; RequireStable (v7+) needs nothing, as there are
// no pending transactional offsets.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(9, 0, 8, simple(handleOffsetFetch)) }

func handleOffsetFetch(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	return b.groups.OffsetFetch(kreq.(*kmsg.OffsetFetchRequest))
}
