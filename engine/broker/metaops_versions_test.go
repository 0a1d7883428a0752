package broker

// Every-version cases of ElectLeaders, AlterPartitionReassignments and ListPartitionReassignments
// on a single node (TestEveryAdvertisedVersion); their cluster behaviour is tested in
// controller_test.go.

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	for key, vc := range map[int16]versionCase{
		43: electLeadersVersionCase,
		45: alterPartitionReassignmentsVersionCase,
		46: listPartitionReassignmentsVersionCase,
	} {
		if versionCases[key] == nil {
			versionCases[key] = vc
		}
	}
}

func electLeadersVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("elect-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	req := versioned(kmsg.NewPtrElectLeadersRequest(), v)
	req.TimeoutMillis = 5000
	for _, rt := range []kmsg.ElectLeadersRequestTopic{{Topic: topic, Partitions: []int32{0, 5}}, {Topic: "missing", Partitions: []int32{0}}} {
		req.Topics = append(req.Topics, rt)
	}
	resp := c.do(req).(*kmsg.ElectLeadersResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 2 || len(resp.Topics[0].Partitions) != 2 || len(resp.Topics[1].Partitions) != 1 {
		t.Fatalf("v%d: %+v", v, resp)
	}
	for i, want := range []int16{errElectionNotNeeded, errUnknownTopicOrPartition} {
		if got := resp.Topics[0].Partitions[i]; got.ErrorCode != want {
			t.Errorf("v%d partition %d: error %d, want %d", v, got.Partition, got.ErrorCode, want)
		}
	}
	if got := resp.Topics[1].Partitions[0].ErrorCode; got != errUnknownTopicOrPartition {
		t.Errorf("v%d unknown topic: error %d, want %d", v, got, errUnknownTopicOrPartition)
	}
	// Every partition: none needs an election, so none is listed.
	req.Topics = nil
	if resp := c.do(req).(*kmsg.ElectLeadersResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("v%d all partitions: %+v, want an empty answer", v, resp)
	}
	if v >= 1 {
		req.ElectionType = 7
		if resp := c.do(req).(*kmsg.ElectLeadersResponse); resp.ErrorCode != errInvalidRequest {
			t.Errorf("v%d election type 7: error %d, want INVALID_REQUEST", v, resp.ErrorCode)
		}
	}
}

func alterPartitionReassignmentsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("reassign-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	req := versioned(kmsg.NewPtrAlterPartitionAssignmentsRequest(), v)
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	self := tb.b.cfg.NodeID
	for _, rp := range []kmsg.AlterPartitionAssignmentsRequestTopicPartition{
		{Partition: 0, Replicas: []int32{self}},
		{Partition: 0, Replicas: []int32{self, self + 1}},
		{Partition: 0},
		{Partition: 3, Replicas: []int32{self}},
	} {
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.AlterPartitionAssignmentsResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 4 {
		t.Fatalf("v%d: %+v", v, resp)
	}
	for i, want := range []int16{0, errInvalidReplicaAssignment, errNoReassignmentInProgress, errUnknownTopicOrPartition} {
		if got := resp.Topics[0].Partitions[i].ErrorCode; got != want {
			t.Errorf("v%d item %d: error %d, want %d", v, i, got, want)
		}
	}
}

func listPartitionReassignmentsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("list-reassign-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	req := versioned(kmsg.NewPtrListPartitionReassignmentsRequest(), v)
	if resp := c.do(req).(*kmsg.ListPartitionReassignmentsResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("v%d: %+v, want no reassignments", v, resp)
	}
	req.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{{Topic: topic, Partitions: []int32{0}}}
	if resp := c.do(req).(*kmsg.ListPartitionReassignmentsResponse); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Errorf("v%d named: %+v, want no reassignments", v, resp)
	}
	req.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{{Topic: "missing", Partitions: []int32{0}}}
	if resp := c.do(req).(*kmsg.ListPartitionReassignmentsResponse); resp.ErrorCode != errUnknownTopicOrPartition {
		t.Errorf("v%d unknown topic: error %d, want %d", v, resp.ErrorCode, errUnknownTopicOrPartition)
	}
}
