package broker

// DescribeCluster: v0-1. The cluster id is clusterID, the controller is this node, and the brokers
// are this node at its advertised address (no rack) and its peers (SetPeers). From v1 the request's EndpointType must
// be 1 (brokers); 2 (controllers) is UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers.
// ClusterAuthorizedOperations, when asked for, lists every cluster operation: Sluice has no
// authorizer, and Kafka without one reports the same. v2 (fenced brokers) is not served yet.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(60, 0, 1, simple(handleDescribeCluster)) }

// endpointTypeBrokers is DescribeCluster's EndpointType for broker listeners (2 is controllers).
const endpointTypeBrokers int8 = 1

// clusterOperationsAll is the bit field of the ACL operations a CLUSTER resource supports (bit n
// is operation n): CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
// ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
const clusterOperationsAll int32 = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12

func handleDescribeCluster(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointTypeBrokers
	if r.Version >= 1 && r.EndpointType != endpointTypeBrokers {
		resp.ErrorCode = errUnsupportedEndpointType
		resp.ErrorMessage = strPtr("this broker serves only endpoint type 1 (brokers)")
		resp.EndpointType = r.EndpointType
		return resp
	}
	resp.ClusterID = clusterID
	resp.ControllerID = b.cfg.NodeID
	adv := b.advertised.Load()
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, adv.host, adv.port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	for _, peer := range b.peerList() {
		pb := kmsg.NewDescribeClusterResponseBroker()
		pb.NodeID, pb.Host, pb.Port = peer.NodeID, peer.Host, peer.Port
		if peer.Rack != "" {
			pb.Rack = strPtr(peer.Rack)
		}
		resp.Brokers = append(resp.Brokers, pb)
	}
	if l := b.link.Load(); l != nil {
		l.clusterDescribe(resp) // the controller's image (controller.go)
	}
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperationsAll
	}
	return resp
}
