package broker

// DescribeGroups: v0-5. State, protocol type, and members (with their metadata and assignments
// while the group is Stable, as Kafka gives them); a group this node does not know is described
// as Dead without an error (v6's GROUP_ID_NOT_FOUND is not served). AuthorizedOperations (v3+),
// when asked for, is every group operation: there is no authorizer.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(15, 0, 5, simple(handleDescribeGroups)) }

func handleDescribeGroups(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	return b.groups.DescribeGroups(kreq.(*kmsg.DescribeGroupsRequest))
}
