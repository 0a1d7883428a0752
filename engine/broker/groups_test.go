package broker

// Consumer groups against a running broker: every advertised version of the group APIs through a
// raw client (registered in versionCases below), franz-go group consumers splitting partitions,
// rebalancing and failing over, committed offsets surviving a restart, sarama's, librdkafka's
// (kcat -G) and kafka-python's group consumers end to end, and Kafka's error codes for bad input.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

// Group timings of the tests. Kafka's defaults (a 3 s initial rebalance delay, a 6 s minimum
// session timeout) would make every group test wait for seconds.
const (
	testInitialRebalanceDelayMs = 50
	testMinSessionTimeoutMs     = 100
	testSessionTimeout          = 1500 * time.Millisecond
	testHeartbeatInterval       = 100 * time.Millisecond
	testGroupWait               = 20 * time.Second // bound on waiting for a group to settle
)

func init() {
	groupConfigDefault.GroupInitialRebalanceDelayMs = testInitialRebalanceDelayMs
	groupConfigDefault.GroupMinSessionTimeoutMs = testMinSessionTimeoutMs
	for key, vc := range map[int16]versionCase{
		8:  offsetCommitVersionCase,
		9:  offsetFetchVersionCase,
		10: findCoordinatorVersionCase,
		11: joinGroupVersionCase,
		12: heartbeatVersionCase,
		13: leaveGroupVersionCase,
		14: syncGroupVersionCase,
		15: describeGroupsVersionCase,
		16: listGroupsVersionCase,
		42: deleteGroupsVersionCase,
		47: offsetDeleteVersionCase,
	} {
		versionCases[key] = vc
	}
}

// Kafka error codes the group APIs answer with (engine/group has the full table).
const (
	codeIllegalGeneration     int16 = 22
	codeInconsistentProtocol  int16 = 23
	codeInvalidGroupID        int16 = 24
	codeUnknownMemberID       int16 = 25
	codeInvalidSessionTimeout int16 = 26
	codeRebalanceInProgress   int16 = 27
	codeNonEmptyGroup         int16 = 68
	codeGroupIDNotFound       int16 = 69
	codeMemberIDRequired      int16 = 79
)

// ---- raw-client helpers ----

func consumerMetadata(topics ...string) []byte {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	return md.AppendTo(nil)
}

func consumerAssignment(topic string, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = topic, partitions
	a.Topics = append(a.Topics, at)
	return a.AppendTo(nil)
}

func joinReq(v int16, group, memberID string, instance *string) *kmsg.JoinGroupRequest {
	req := versioned(kmsg.NewPtrJoinGroupRequest(), v)
	req.Group, req.MemberID, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = group, memberID, 10000, 10000
	req.ProtocolType = "consumer"
	if v >= 5 {
		req.InstanceID = instance
	}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", consumerMetadata("t")
	req.Protocols = append(req.Protocols, p)
	return req
}

// rawJoin joins group as a new member at JoinGroup version v, doing the MEMBER_ID_REQUIRED round
// trip that v4+ dynamic members need, and fails unless it gets in.
func rawJoin(t testing.TB, c *rawClient, v int16, group string, instance *string) *kmsg.JoinGroupResponse {
	t.Helper()
	req := joinReq(v, group, "", instance)
	resp := c.do(req).(*kmsg.JoinGroupResponse)
	if v >= 4 && (instance == nil || v < 5) {
		if resp.ErrorCode != codeMemberIDRequired || resp.MemberID == "" {
			t.Fatalf("JoinGroup v%d without a member id: error %d member %q, want MEMBER_ID_REQUIRED and an id", v, resp.ErrorCode, resp.MemberID)
		}
		req = joinReq(v, group, resp.MemberID, instance)
		resp = c.do(req).(*kmsg.JoinGroupResponse)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("JoinGroup v%d %s: error %d", v, group, resp.ErrorCode)
	}
	return resp
}

func rawSync(t testing.TB, c *rawClient, v int16, group, memberID string, gen int32, assignment []byte) *kmsg.SyncGroupResponse {
	t.Helper()
	req := versioned(kmsg.NewPtrSyncGroupRequest(), v)
	req.Group, req.MemberID, req.Generation = group, memberID, gen
	if v >= 5 {
		req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	}
	if assignment != nil {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = memberID, assignment
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	return c.do(req).(*kmsg.SyncGroupResponse)
}

// rawGroup makes a one-member Stable group (highest versions) and returns its member and generation.
func rawGroup(t testing.TB, c *rawClient, group string) (string, int32) {
	t.Helper()
	j := rawJoin(t, c, apis[11].max, group, nil)
	if s := rawSync(t, c, apis[14].max, group, j.MemberID, j.Generation, consumerAssignment("t", 0)); s.ErrorCode != 0 {
		t.Fatalf("SyncGroup %s: error %d", group, s.ErrorCode)
	}
	return j.MemberID, j.Generation
}

func commitReq(v int16, group, member string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	req := versioned(kmsg.NewPtrOffsetCommitRequest(), v)
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	ps := make([]int32, 0, len(offsets))
	for p := range offsets {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	for _, p := range ps {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, offsets[p], kmsg.StringPtr(fmt.Sprintf("m%d", offsets[p]))
		if v >= 6 {
			rp.LeaderEpoch = 0
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// rawCommit commits and returns the error code of each partition, in partition order.
func rawCommit(t testing.TB, c *rawClient, v int16, group, member string, gen int32, topic string, offsets map[int32]int64) []int16 {
	t.Helper()
	resp := c.do(commitReq(v, group, member, gen, topic, offsets)).(*kmsg.OffsetCommitResponse)
	var codes []int16
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

// rawFetch fetches group's committed offsets for topic's partitions at OffsetFetch v5 or later
// (v8: in the group form) and returns them by partition.
func rawFetch(t testing.TB, c *rawClient, v int16, group, topic string, partitions ...int32) map[int32]kmsg.OffsetFetchResponseTopicPartition {
	t.Helper()
	req := versioned(kmsg.NewPtrOffsetFetchRequest(), v)
	out := map[int32]kmsg.OffsetFetchResponseTopicPartition{}
	if v >= 8 {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: partitions}}
		req.Groups = append(req.Groups, rg)
		resp := c.do(req).(*kmsg.OffsetFetchResponse)
		for _, g := range resp.Groups {
			for _, rt := range g.Topics {
				for _, p := range rt.Partitions {
					out[p.Partition] = kmsg.OffsetFetchResponseTopicPartition{Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata, ErrorCode: p.ErrorCode}
				}
			}
		}
		return out
	}
	req.Group = group
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: partitions}}
	resp := c.do(req).(*kmsg.OffsetFetchResponse)
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p
		}
	}
	return out
}

// ---- version cases (TestEveryAdvertisedVersion) ----

func findCoordinatorVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	host, portStr, _ := net.SplitHostPort(tb.addr)
	port, _ := strconv.Atoi(portStr)
	check := func(what string, node int32, h string, p int32, code int16) {
		t.Helper()
		if code != 0 || node != 0 || h != host || p != int32(port) {
			t.Errorf("FindCoordinator v%d %s: node %d at %s:%d, error %d; want node 0 at %s", v, what, node, h, p, code, tb.addr)
		}
	}
	req := versioned(kmsg.NewPtrFindCoordinatorRequest(), v)
	if v >= 4 {
		req.CoordinatorKeys = []string{"g1", "g2"}
		resp := c.do(req).(*kmsg.FindCoordinatorResponse)
		if len(resp.Coordinators) != 2 {
			t.Fatalf("FindCoordinator v%d: %d coordinators for 2 keys", v, len(resp.Coordinators))
		}
		for i, co := range resp.Coordinators {
			if co.Key != req.CoordinatorKeys[i] {
				t.Errorf("coordinator %d for key %q, want %q", i, co.Key, req.CoordinatorKeys[i])
			}
			check(co.Key, co.NodeID, co.Host, co.Port, co.ErrorCode)
		}
	} else {
		req.CoordinatorKey = "g1"
		resp := c.do(req).(*kmsg.FindCoordinatorResponse)
		check("group", resp.NodeID, resp.Host, resp.Port, resp.ErrorCode)
	}
	if v >= 1 {
		bad := versioned(kmsg.NewPtrFindCoordinatorRequest(), v)
		bad.CoordinatorKey, bad.CoordinatorKeys, bad.CoordinatorType = "x", []string{"x"}, 7
		resp := c.do(bad).(*kmsg.FindCoordinatorResponse)
		code := resp.ErrorCode
		if v >= 4 {
			code = resp.Coordinators[0].ErrorCode
		}
		if code != errInvalidRequest {
			t.Errorf("FindCoordinator v%d key type 7: error %d, want INVALID_REQUEST", v, code)
		}
	}
}

func joinGroupVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	group := fmt.Sprintf("join-v%d", v)
	j := rawJoin(t, c, v, group, nil)
	switch {
	case j.Generation != 1 || j.LeaderID != j.MemberID:
		t.Errorf("JoinGroup v%d: generation %d leader %q member %q; want generation 1 led by the member", v, j.Generation, j.LeaderID, j.MemberID)
	case j.Protocol == nil || *j.Protocol != "range" || len(j.Members) != 1 || !bytes.Equal(j.Members[0].ProtocolMetadata, consumerMetadata("t")):
		t.Errorf("JoinGroup v%d: protocol %v members %+v", v, j.Protocol, j.Members)
	case v >= 7 && (j.ProtocolType == nil || *j.ProtocolType != "consumer"):
		t.Errorf("JoinGroup v%d: protocol type %v", v, j.ProtocolType)
	case !strings.HasPrefix(j.MemberID, "sluice-raw-"):
		t.Errorf("JoinGroup v%d: member id %q does not start with the client id", v, j.MemberID)
	}
	if s := rawSync(t, c, apis[14].max, group, j.MemberID, j.Generation, consumerAssignment("t", 0)); s.ErrorCode != 0 {
		t.Fatalf("SyncGroup after JoinGroup v%d: error %d", v, s.ErrorCode)
	}
	// Rejoining with the same metadata as a follower would return the current generation; as the
	// (only) leader it rebalances into generation 2.
	again := c.do(joinReq(v, group, j.MemberID, nil)).(*kmsg.JoinGroupResponse)
	if again.ErrorCode != 0 || again.Generation != 2 {
		t.Errorf("JoinGroup v%d rejoin: error %d generation %d, want generation 2", v, again.ErrorCode, again.Generation)
	}
	if bad := c.do(joinReq(v, group, "no-such-member", nil)).(*kmsg.JoinGroupResponse); bad.ErrorCode != codeUnknownMemberID {
		t.Errorf("JoinGroup v%d unknown member: error %d, want UNKNOWN_MEMBER_ID", v, bad.ErrorCode)
	}
	short := joinReq(v, group+"-short", "", nil)
	short.SessionTimeoutMillis = testMinSessionTimeoutMs - 1
	if bad := c.do(short).(*kmsg.JoinGroupResponse); bad.ErrorCode != codeInvalidSessionTimeout {
		t.Errorf("JoinGroup v%d session timeout below group.min.session.timeout.ms: error %d", v, bad.ErrorCode)
	}
	if v >= 5 {
		// A static member joins without the member id round trip.
		inst := "instance-1"
		req := joinReq(v, group+"-static", "", &inst)
		if s := c.do(req).(*kmsg.JoinGroupResponse); s.ErrorCode != 0 || !strings.HasPrefix(s.MemberID, inst+"-") {
			t.Errorf("JoinGroup v%d static member: error %d member %q", v, s.ErrorCode, s.MemberID)
		}
	}
}

func syncGroupVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	group := fmt.Sprintf("sync-v%d", v)
	j := rawJoin(t, c, apis[11].max, group, nil)
	if v >= 5 {
		bad := versioned(kmsg.NewPtrSyncGroupRequest(), v)
		bad.Group, bad.MemberID, bad.Generation, bad.Protocol = group, j.MemberID, j.Generation, kmsg.StringPtr("roundrobin")
		if r := c.do(bad).(*kmsg.SyncGroupResponse); r.ErrorCode != codeInconsistentProtocol {
			t.Errorf("SyncGroup v%d with another protocol: error %d, want INCONSISTENT_GROUP_PROTOCOL", v, r.ErrorCode)
		}
	}
	want := consumerAssignment("t", 0, 1)
	s := rawSync(t, c, v, group, j.MemberID, j.Generation, want)
	if s.ErrorCode != 0 || !bytes.Equal(s.MemberAssignment, want) {
		t.Fatalf("SyncGroup v%d: error %d assignment % x", v, s.ErrorCode, s.MemberAssignment)
	}
	if v >= 5 && (s.ProtocolType == nil || *s.ProtocolType != "consumer" || s.Protocol == nil || *s.Protocol != "range") {
		t.Errorf("SyncGroup v%d: protocol type %v protocol %v", v, s.ProtocolType, s.Protocol)
	}
	// Stable: a repeated sync returns the assignment; a stale generation does not.
	if s := rawSync(t, c, v, group, j.MemberID, j.Generation, nil); s.ErrorCode != 0 || !bytes.Equal(s.MemberAssignment, want) {
		t.Errorf("SyncGroup v%d again: error %d", v, s.ErrorCode)
	}
	if s := rawSync(t, c, v, group, j.MemberID, j.Generation+1, nil); s.ErrorCode != codeIllegalGeneration {
		t.Errorf("SyncGroup v%d next generation: error %d, want ILLEGAL_GENERATION", v, s.ErrorCode)
	}
}

func heartbeatVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	group := fmt.Sprintf("heartbeat-v%d", v)
	member, gen := rawGroup(t, c, group)
	hb := func(member string, gen int32) int16 {
		req := versioned(kmsg.NewPtrHeartbeatRequest(), v)
		req.Group, req.MemberID, req.Generation = group, member, gen
		return c.do(req).(*kmsg.HeartbeatResponse).ErrorCode
	}
	for _, tc := range []struct {
		member string
		gen    int32
		want   int16
	}{{member, gen, 0}, {member, gen - 1, codeIllegalGeneration}, {"nobody", gen, codeUnknownMemberID}} {
		if got := hb(tc.member, tc.gen); got != tc.want {
			t.Errorf("Heartbeat v%d member %q generation %d: error %d, want %d", v, tc.member, tc.gen, got, tc.want)
		}
	}
}

func leaveGroupVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	group := fmt.Sprintf("leave-v%d", v)
	member, gen := rawGroup(t, c, group)
	req := versioned(kmsg.NewPtrLeaveGroupRequest(), v)
	req.Group = group
	if v < 3 {
		req.MemberID = member
	} else {
		for _, id := range []string{member, "ghost"} {
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = id
			req.Members = append(req.Members, m)
		}
	}
	resp := c.do(req).(*kmsg.LeaveGroupResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("LeaveGroup v%d: error %d", v, resp.ErrorCode)
	}
	if v >= 3 && (len(resp.Members) != 2 || resp.Members[0].ErrorCode != 0 || resp.Members[1].ErrorCode != codeUnknownMemberID) {
		t.Errorf("LeaveGroup v%d: members %+v, want the member ok and ghost UNKNOWN_MEMBER_ID", v, resp.Members)
	}
	hb := versioned(kmsg.NewPtrHeartbeatRequest(), apis[12].max)
	hb.Group, hb.MemberID, hb.Generation = group, member, gen
	if code := c.do(hb).(*kmsg.HeartbeatResponse).ErrorCode; code != codeUnknownMemberID && code != codeIllegalGeneration {
		t.Errorf("Heartbeat after LeaveGroup v%d: error %d, want the member gone", v, code)
	}
}

func offsetCommitVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic, group := fmt.Sprintf("offset-commit-v%d", v), fmt.Sprintf("offset-commit-v%d", v)
	rawCreateTopic(t, c, topic, 2)
	// Without membership (v0 has no generation; v1+ sends -1).
	if codes := rawCommit(t, c, v, group, "", -1, topic, map[int32]int64{0: 5, 1: 6}); !slices.Equal(codes, []int16{0, 0}) {
		t.Fatalf("OffsetCommit v%d: errors %v", v, codes)
	}
	if codes := rawCommit(t, c, v, group, "", -1, "no-such-topic", map[int32]int64{0: 1}); !slices.Equal(codes, []int16{errUnknownTopicOrPartition}) {
		t.Errorf("OffsetCommit v%d unknown topic: errors %v", v, codes)
	}
	got := rawFetch(t, c, apis[9].max, group, topic, 0, 1)
	for p, want := range map[int32]int64{0: 5, 1: 6} {
		if got[p].Offset != want || got[p].Metadata == nil || *got[p].Metadata != fmt.Sprintf("m%d", want) {
			t.Errorf("OffsetCommit v%d partition %d: fetched %+v, want offset %d", v, p, got[p], want)
		}
		if wantEpoch := int32(-1); v >= 6 && got[p].LeaderEpoch != 0 || v < 6 && got[p].LeaderEpoch != wantEpoch {
			t.Errorf("OffsetCommit v%d partition %d: leader epoch %d", v, p, got[p].LeaderEpoch)
		}
	}
	if v == 0 {
		return
	}
	// With membership: the member's current generation only.
	mgroup := group + "-members"
	member, gen := rawGroup(t, c, mgroup)
	for _, tc := range []struct {
		member string
		gen    int32
		want   int16
	}{{member, gen, 0}, {member, gen + 1, codeIllegalGeneration}, {"nobody", gen, codeUnknownMemberID}, {"", -1, codeUnknownMemberID}} {
		if codes := rawCommit(t, c, v, mgroup, tc.member, tc.gen, topic, map[int32]int64{0: 9}); !slices.Equal(codes, []int16{tc.want}) {
			t.Errorf("OffsetCommit v%d member %q generation %d: errors %v, want %d", v, tc.member, tc.gen, codes, tc.want)
		}
	}
	if codes := rawCommit(t, c, v, group+"-nobody-home", "m", 3, topic, map[int32]int64{0: 9}); !slices.Equal(codes, []int16{codeIllegalGeneration}) {
		t.Errorf("OffsetCommit v%d with a generation for an unknown group: errors %v, want ILLEGAL_GENERATION", v, codes)
	}
}

func offsetFetchVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic, group := fmt.Sprintf("offset-fetch-v%d", v), fmt.Sprintf("offset-fetch-v%d", v)
	rawCreateTopic(t, c, topic, 3)
	rawCommit(t, c, apis[8].max, group, "", -1, topic, map[int32]int64{0: 10, 2: 30})
	got := rawFetch(t, c, v, group, topic, 0, 1, 2)
	for p, want := range map[int32]int64{0: 10, 1: -1, 2: 30} {
		if got[p].Offset != want || got[p].ErrorCode != 0 {
			t.Errorf("OffsetFetch v%d partition %d: %+v, want offset %d", v, p, got[p], want)
		}
		if v >= 5 && want >= 0 && got[p].LeaderEpoch != 0 {
			t.Errorf("OffsetFetch v%d partition %d: leader epoch %d, want 0", v, p, got[p].LeaderEpoch)
		}
	}
	if v < 2 {
		return
	}
	// Topics null: every committed offset of the group; v8 asks for several groups at once.
	req := versioned(kmsg.NewPtrOffsetFetchRequest(), v)
	var n int
	if v >= 8 {
		for _, g := range []string{group, "nobody"} {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			req.Groups = append(req.Groups, rg)
		}
		resp := c.do(req).(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) != 2 || resp.Groups[0].Group != group || len(resp.Groups[1].Topics) != 0 {
			t.Fatalf("OffsetFetch v%d two groups: %+v", v, resp.Groups)
		}
		for _, rt := range resp.Groups[0].Topics {
			n += len(rt.Partitions)
		}
	} else {
		req.Group = group
		resp := c.do(req).(*kmsg.OffsetFetchResponse)
		for _, rt := range resp.Topics {
			n += len(rt.Partitions)
		}
	}
	if n != 2 {
		t.Errorf("OffsetFetch v%d all topics: %d partitions, want the 2 committed", v, n)
	}
}

func describeGroupsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	group := fmt.Sprintf("describe-v%d", v)
	member, _ := rawGroup(t, c, group)
	req := versioned(kmsg.NewPtrDescribeGroupsRequest(), v)
	req.Groups, req.IncludeAuthorizedOperations = []string{group, "nobody"}, true
	resp := c.do(req).(*kmsg.DescribeGroupsResponse)
	if len(resp.Groups) != 2 {
		t.Fatalf("DescribeGroups v%d: %d groups", v, len(resp.Groups))
	}
	g := resp.Groups[0]
	switch {
	case g.ErrorCode != 0 || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" || len(g.Members) != 1:
		t.Errorf("DescribeGroups v%d: %+v", v, g)
	case g.Members[0].MemberID != member || g.Members[0].ClientID != "sluice-raw" || g.Members[0].ClientHost != "/127.0.0.1" ||
		!bytes.Equal(g.Members[0].MemberAssignment, consumerAssignment("t", 0)):
		t.Errorf("DescribeGroups v%d member: %+v", v, g.Members[0])
	case v >= 3 && g.AuthorizedOperations != 1<<3|1<<6|1<<8:
		t.Errorf("DescribeGroups v%d authorized operations %b", v, g.AuthorizedOperations)
	}
	if d := resp.Groups[1]; d.ErrorCode != 0 || d.State != "Dead" || len(d.Members) != 0 {
		t.Errorf("DescribeGroups v%d unknown group: %+v, want Dead", v, d)
	}
}

func listGroupsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	group := fmt.Sprintf("list-v%d", v)
	rawGroup(t, c, group)
	list := func(states ...string) map[string]kmsg.ListGroupsResponseGroup {
		req := versioned(kmsg.NewPtrListGroupsRequest(), v)
		req.StatesFilter = states
		resp := c.do(req).(*kmsg.ListGroupsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("ListGroups v%d: error %d", v, resp.ErrorCode)
		}
		out := map[string]kmsg.ListGroupsResponseGroup{}
		for _, g := range resp.Groups {
			out[g.Group] = g
		}
		return out
	}
	g, ok := list()[group]
	if !ok || g.ProtocolType != "consumer" || v >= 4 && g.GroupState != "Stable" {
		t.Errorf("ListGroups v%d: %q listed %v as %+v", v, group, ok, g)
	}
	if v >= 4 {
		if _, ok := list("stable")[group]; !ok {
			t.Errorf("ListGroups v%d filtered by \"stable\": %q missing", v, group)
		}
		if _, ok := list("Empty", "Dead")[group]; ok {
			t.Errorf("ListGroups v%d filtered by Empty, Dead: %q listed", v, group)
		}
	}
}

func deleteGroupsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic, group := fmt.Sprintf("delete-groups-v%d", v), fmt.Sprintf("delete-groups-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	rawCommit(t, c, apis[8].max, group, "", -1, topic, map[int32]int64{0: 3})
	busy := group + "-busy"
	rawGroup(t, c, busy)
	req := versioned(kmsg.NewPtrDeleteGroupsRequest(), v)
	req.Groups = []string{group, busy, group + "-nobody"}
	resp := c.do(req).(*kmsg.DeleteGroupsResponse)
	want := []int16{0, codeNonEmptyGroup, codeGroupIDNotFound}
	var got []int16
	for _, g := range resp.Groups {
		got = append(got, g.ErrorCode)
	}
	if !slices.Equal(got, want) {
		t.Errorf("DeleteGroups v%d: errors %v, want %v", v, got, want)
	}
	if off := rawFetch(t, c, apis[9].max, group, topic, 0)[0].Offset; off != -1 {
		t.Errorf("DeleteGroups v%d: offset %d still committed", v, off)
	}
}

func offsetDeleteVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic, group := fmt.Sprintf("offset-delete-v%d", v), fmt.Sprintf("offset-delete-v%d", v)
	rawCreateTopic(t, c, topic, 2)
	rawCommit(t, c, apis[8].max, group, "", -1, topic, map[int32]int64{0: 3, 1: 4})
	req := versioned(kmsg.NewPtrOffsetDeleteRequest(), v)
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = topic
	rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	req.Topics = append(req.Topics, rt)
	resp := c.do(req).(*kmsg.OffsetDeleteResponse)
	if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("OffsetDelete v%d: %+v", v, resp)
	}
	got := rawFetch(t, c, apis[9].max, group, topic, 0, 1)
	if got[0].Offset != -1 || got[1].Offset != 4 {
		t.Errorf("OffsetDelete v%d: offsets %d, %d after deleting partition 0's; want -1, 4", v, got[0].Offset, got[1].Offset)
	}
	req.Group = group + "-nobody"
	if r := c.do(req).(*kmsg.OffsetDeleteResponse); r.ErrorCode != codeGroupIDNotFound {
		t.Errorf("OffsetDelete v%d unknown group: error %d", v, r.ErrorCode)
	}
}

// ---- franz-go group consumers ----

// killSwitch is a dialer whose connections can all be cut at once, and new ones refused: the
// client's process "dies" without sending LeaveGroup.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) set(dead bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = dead
	if dead {
		for _, c := range k.conns {
			c.Close()
		}
		k.conns = nil
	}
}

// groupConsumer is a franz-go group member polling in the background; it records the records it
// consumes and the partitions it owns (from its assignment callbacks).
type groupConsumer struct {
	name   string
	cl     *kgo.Client
	ks     killSwitch
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once

	mu      sync.Mutex
	owned   map[int32]bool
	records []*kgo.Record
	killed  bool
}

func startGroupConsumer(t *testing.T, tb *testBroker, group, topic, name string, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	gc := &groupConsumer{name: name, owned: map[int32]bool{}, done: make(chan struct{})}
	update := func(ps map[string][]int32, own bool) {
		gc.mu.Lock()
		defer gc.mu.Unlock()
		for _, p := range ps[topic] {
			if own {
				gc.owned[p] = true
			} else {
				delete(gc.owned, p)
			}
		}
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(tb.addr), kgo.ClientID(name), kgo.Dialer(gc.ks.dial),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(testSessionTimeout), kgo.HeartbeatInterval(testHeartbeatInterval), kgo.RebalanceTimeout(5 * time.Second),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.RetryTimeout(5 * time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	gc.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	gc.cancel = cancel
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			gc.mu.Lock()
			if !gc.killed {
				gc.records = append(gc.records, fs.Records()...)
			}
			gc.mu.Unlock()
		}
	}()
	t.Cleanup(gc.close)
	return gc
}

// close stops polling and closes the client (leaving the group, unless it was killed and the
// group removed it already).
func (gc *groupConsumer) close() {
	gc.closed.Do(func() {
		gc.cancel()
		<-gc.done
		gc.ks.set(false)
		gc.cl.Close()
	})
}

// kill cuts the member's connections and refuses new ones: no LeaveGroup, no heartbeats.
func (gc *groupConsumer) kill() {
	gc.mu.Lock()
	gc.killed = true
	gc.mu.Unlock()
	gc.ks.set(true)
}

func (gc *groupConsumer) ownedPartitions() []int32 {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	out := make([]int32, 0, len(gc.owned))
	for p := range gc.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond until it holds or testGroupWait passes.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(testGroupWait)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, testGroupWait, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// splitAmong reports whether members own every partition of a topic of n partitions exactly once
// between them, each owning some.
func splitAmong(members []*groupConsumer, n int32) (bool, string) {
	owner := map[int32]string{}
	var detail []string
	ok := true
	for _, m := range members {
		ps := m.ownedPartitions()
		detail = append(detail, fmt.Sprintf("%s=%v", m.name, ps))
		if len(ps) == 0 {
			ok = false
		}
		for _, p := range ps {
			if prev, dup := owner[p]; dup {
				ok = false
				detail = append(detail, fmt.Sprintf("partition %d owned by %s and %s", p, prev, m.name))
			}
			owner[p] = m.name
		}
	}
	return ok && int32(len(owner)) == n, strings.Join(detail, " ")
}

// produceValues produces one record per value, spread over the partitions by round robin,
// uncompressed, and waits for them all.
func produceValues(t *testing.T, tb *testBroker, topic string, values []string) {
	t.Helper()
	// Uncompressed: Debian's kafka-python lacks snappy, franz-go's default codec.
	prod := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v)})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func batchValues(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return out
}

// consumedOnce waits until the members have consumed every value of batch between them, then
// checks none was consumed twice and each came from a partition its consumer owned.
func consumedOnce(t *testing.T, members []*groupConsumer, batch []string) {
	t.Helper()
	want := map[string]bool{}
	for _, v := range batch {
		want[v] = true
	}
	count := func() (map[string][]string, int) {
		seen := map[string][]string{}
		n := 0
		for _, m := range members {
			m.mu.Lock()
			for _, r := range m.records {
				if want[string(r.Value)] {
					seen[string(r.Value)] = append(seen[string(r.Value)], fmt.Sprintf("%s@p%d", m.name, r.Partition))
					n++
				}
			}
			m.mu.Unlock()
		}
		return seen, n
	}
	waitFor(t, fmt.Sprintf("consuming %d records", len(batch)), func() (bool, string) {
		seen, _ := count()
		return len(seen) == len(want), fmt.Sprintf("%d of %d distinct records consumed", len(seen), len(want))
	})
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show up
	seen, n := count()
	if n != len(want) {
		for v, by := range seen {
			if len(by) > 1 {
				t.Errorf("record %s consumed %d times: %v", v, len(by), by)
			}
		}
		t.Fatalf("%d deliveries of %d records", n, len(want))
	}
}

// TestGroupFranzGoSplitJoinAndFailover: three members split a 12-partition topic with no
// overlap and each record goes to one of them; a fourth takes its share; a member that dies
// without leaving loses its partitions to the others once its session times out.
func TestGroupFranzGoSplitJoinAndFailover(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	const topic, group, partitions = "split", "split-group", 12
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var members []*groupConsumer
	for i := range 3 {
		members = append(members, startGroupConsumer(t, tb, group, topic, fmt.Sprintf("m%d", i), kgo.Balancers(kgo.RoundRobinBalancer())))
	}
	waitFor(t, "three members splitting 12 partitions", func() (bool, string) { return splitAmong(members, partitions) })
	batch := batchValues("a", 600)
	produceValues(t, tb, topic, batch)
	consumedOnce(t, members, batch)

	members = append(members, startGroupConsumer(t, tb, group, topic, "m3", kgo.Balancers(kgo.RoundRobinBalancer())))
	waitFor(t, "a fourth member taking its share", func() (bool, string) {
		ok, d := splitAmong(members, partitions)
		return ok && len(members[3].ownedPartitions()) == 3, d
	})
	batch = batchValues("b", 400)
	produceValues(t, tb, topic, batch)
	consumedOnce(t, members, batch)

	dead := members[1]
	lost := dead.ownedPartitions()
	killedAt := time.Now()
	dead.kill()
	live := []*groupConsumer{members[0], members[2], members[3]}
	waitFor(t, "the dead member's partitions moving to the others", func() (bool, string) { return splitAmong(live, partitions) })
	if el := time.Since(killedAt); el < testSessionTimeout/2 {
		t.Errorf("partitions moved %v after the kill: before the session timeout (%v) could expire", el, testSessionTimeout)
	}
	t.Logf("partitions %v of the killed member moved after %v", lost, time.Since(killedAt).Round(time.Millisecond))
	batch = batchValues("c", 300)
	produceValues(t, tb, topic, batch)
	consumedOnce(t, live, batch)
}

// TestGroupFranzGoCooperativeStickyKeepsPartitions: with the cooperative-sticky assignor a
// joining member takes partitions only from those that must give some up; every other
// assignment stays where it was, and nothing is revoked from anyone but to move it.
func TestGroupFranzGoCooperativeStickyKeepsPartitions(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	const topic, group, partitions = "coop", "coop-group", 12
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var members []*groupConsumer
	for i := range 3 {
		members = append(members, startGroupConsumer(t, tb, group, topic, fmt.Sprintf("c%d", i), kgo.Balancers(kgo.CooperativeStickyBalancer())))
	}
	waitFor(t, "three members splitting 12 partitions", func() (bool, string) { return splitAmong(members, partitions) })
	before := map[string][]int32{}
	for _, m := range members {
		before[m.name] = m.ownedPartitions()
	}
	members = append(members, startGroupConsumer(t, tb, group, topic, "c3", kgo.Balancers(kgo.CooperativeStickyBalancer())))
	waitFor(t, "the fourth member taking its share", func() (bool, string) {
		ok, d := splitAmong(members, partitions)
		return ok && len(members[3].ownedPartitions()) == 3, d
	})
	moved := 0
	for _, m := range members[:3] {
		after := m.ownedPartitions()
		for _, p := range after {
			if !slices.Contains(before[m.name], p) {
				t.Errorf("%s gained partition %d: cooperative-sticky moves partitions only to the new member", m.name, p)
			}
		}
		moved += len(before[m.name]) - len(after)
	}
	if moved != 3 {
		t.Errorf("%d partitions moved, want exactly the new member's 3", moved)
	}
	d, err := tb.b.DescribeGroup(group)
	if err != nil || d.Protocol != "cooperative-sticky" || len(d.Members) != 4 {
		t.Errorf("group: protocol %q, %d members, %v; want cooperative-sticky with 4", d.Protocol, len(d.Members), err)
	}
}

// TestGroupFranzGoStaticMemberRestart: a static member (group.instance.id) that restarts within
// its session timeout gets its partitions back without a rebalance (KIP-345): the generation
// stays, and the other member keeps its partitions throughout.
func TestGroupFranzGoStaticMemberRestart(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	const topic, group, partitions = "static", "static-group", 6
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	a := startGroupConsumer(t, tb, group, topic, "sa", kgo.InstanceID("instance-a"))
	b := startGroupConsumer(t, tb, group, topic, "sb", kgo.InstanceID("instance-b"))
	waitFor(t, "two static members splitting 6 partitions", func() (bool, string) { return splitAmong([]*groupConsumer{a, b}, partitions) })
	before, err := tb.b.DescribeGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	aOwned, bOwned := a.ownedPartitions(), b.ownedPartitions()
	b.close() // a static member leaves no LeaveGroup behind
	b2 := startGroupConsumer(t, tb, group, topic, "sb2", kgo.InstanceID("instance-b"))
	waitFor(t, "the restarted member getting its partitions back", func() (bool, string) {
		got := b2.ownedPartitions()
		return slices.Equal(got, bOwned), fmt.Sprintf("owns %v, had %v", got, bOwned)
	})
	after, err := tb.b.DescribeGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation || after.State != "Stable" || len(after.Members) != 2 {
		t.Errorf("group after the static member's restart: generation %d (was %d), state %s, %d members; want no rebalance",
			after.Generation, before.Generation, after.State, len(after.Members))
	}
	if got := a.ownedPartitions(); !slices.Equal(got, aOwned) {
		t.Errorf("the other member owns %v, had %v", got, aOwned)
	}
}

// TestGroupTwoGroupsEachGetEveryRecord: groups are independent: each receives every record.
func TestGroupTwoGroupsEachGetEveryRecord(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	const topic = "fanout"
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	groups := map[string][]*groupConsumer{}
	for _, g := range []string{"fanout-a", "fanout-b"} {
		for i := range 2 {
			groups[g] = append(groups[g], startGroupConsumer(t, tb, g, topic, fmt.Sprintf("%s-%d", g, i)))
		}
	}
	for g, ms := range groups {
		waitFor(t, g+" splitting 4 partitions", func() (bool, string) { return splitAmong(ms, 4) })
	}
	batch := batchValues("f", 400)
	produceValues(t, tb, topic, batch)
	for _, ms := range groups {
		consumedOnce(t, ms, batch)
	}
}

// TestGroupCommitSurvivesRestart: a consumer commits part of a topic, the broker restarts on the
// same directory, and the group resumes from the committed offsets: nothing skipped, nothing
// committed read again.
func TestGroupCommitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir)
	const topic, group, n = "resume", "resume-group", 300
	ctx := context.Background()
	if _, err := kadm.NewClient(tb.client()).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceValues(t, tb, topic, batchValues("r", n))

	opts := []kgo.Opt{
		kgo.SeedBrokers(tb.addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.SessionTimeout(testSessionTimeout), kgo.HeartbeatInterval(testHeartbeatInterval),
		kgo.FetchMaxWait(100 * time.Millisecond), kgo.FetchMaxPartitionBytes(400), // a few records per fetch
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	pollCtx, cancel := context.WithTimeout(ctx, testGroupWait)
	defer cancel()
	var first []*kgo.Record
	for len(first) < n/2 {
		fs := cl.PollRecords(pollCtx, n/2-len(first))
		if pollCtx.Err() != nil {
			t.Fatalf("consumed %d of %d before the deadline", len(first), n/2)
		}
		first = append(first, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, first...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := map[int32]int64{}
	for _, r := range first {
		committed[r.Partition] = max(committed[r.Partition], r.Offset+1)
	}
	cl.Close()

	tb.stop()
	tb = startBroker(t, dir)
	offs, err := kadm.NewClient(tb.client()).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range committed {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != want {
			t.Errorf("partition %d after the restart: committed %+v, want %d", p, o, want)
		}
	}
	opts[0] = kgo.SeedBrokers(tb.addr)
	cl = tb.client(opts...)
	var rest []*kgo.Record
	pollCtx2, cancel2 := context.WithTimeout(ctx, testGroupWait)
	defer cancel2()
	for len(rest) < n-len(first) {
		fs := cl.PollFetches(pollCtx2)
		if pollCtx2.Err() != nil {
			t.Fatalf("resumed and consumed %d of %d before the deadline", len(rest), n-len(first))
		}
		rest = append(rest, fs.Records()...)
	}
	next := map[int32]int64{}
	for p, o := range committed {
		next[p] = o
	}
	seen := map[string]bool{}
	for _, r := range first {
		seen[string(r.Value)] = true
	}
	for _, r := range rest {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d resumed at offset %d, want %d (skipped or re-read)", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		if seen[string(r.Value)] {
			t.Fatalf("record %s read before and after the restart", r.Value)
		}
		seen[string(r.Value)] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records over both runs, want %d", len(seen), n)
	}
}

// committedTotal sums a group's committed offsets for a topic.
func committedTotal(t *testing.T, tb *testBroker, group, topic string) int64 {
	t.Helper()
	offs, err := kadm.NewClient(tb.client()).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At > 0 {
			sum += o.At
		}
	})
	return sum
}

func TestGroupSaramaConsumerGroup(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	const topic, group, n = "sarama-group-topic", "sarama-group", 200
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceValues(t, tb, topic, batchValues("s", n))
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "sarama-test"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = testSessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = testHeartbeatInterval
	cg, err := sarama.NewConsumerGroup([]string{tb.addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	h := &saramaHandler{seen: map[string]bool{}, want: n, full: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), testGroupWait)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case <-h.full:
	case err := <-errc:
		t.Fatalf("sarama Consume: %v", err)
	case <-ctx.Done():
		t.Fatalf("sarama consumed %d of %d records", h.count(), n)
	}
	cancel()
	<-errc
	if err := cg.Close(); err != nil {
		t.Fatalf("sarama close: %v", err)
	}
	if got := committedTotal(t, tb, group, topic); got != n {
		t.Errorf("sarama committed %d offsets in total, want %d", got, n)
	}
}

type saramaHandler struct {
	mu   sync.Mutex
	seen map[string]bool
	want int
	full chan struct{}
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		s.MarkMessage(m, "")
		h.mu.Lock()
		h.seen[string(m.Value)] = true
		if len(h.seen) == h.want {
			close(h.full)
		}
		h.mu.Unlock()
	}
	return nil
}

// TestGroupKcat: librdkafka's balanced consumer (kcat -G) reads a topic to its end and commits.
func TestGroupKcat(t *testing.T) {
	kcat := requireTool(t, "kcat")
	tb := startBroker(t, t.TempDir())
	const topic, group, n = "kcat-group-topic", "kcat-group", 120
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	values := batchValues("k", n)
	produceValues(t, tb, topic, values)
	out := runCmd(t, "", kcat, "-b", tb.addr, "-G", group, "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
		"-X", "heartbeat.interval.ms=500", "-e", "-q", topic)
	got := strings.Fields(out)
	sort.Strings(got)
	if !slices.Equal(got, values) {
		t.Fatalf("kcat -G consumed %d records, want the %d produced:\n%s", len(got), n, out)
	}
	if c := committedTotal(t, tb, group, topic); c != n {
		t.Errorf("kcat -G committed %d offsets in total, want %d", c, n)
	}
}

const kafkaPythonGroupScript = `
import sys, time
from kafka import KafkaConsumer
bootstrap, topic, group, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500)
seen = set()
deadline = time.time() + 20
while len(seen) < want and time.time() < deadline:
    for tp, msgs in c.poll(timeout_ms=200).items():
        for m in msgs:
            seen.add(m.value.decode())
c.commit()
c.close()
vals = sorted(seen)
print(len(vals), vals[0] if vals else "-", vals[-1] if vals else "-")
`

// TestGroupKafkaPython: kafka-python's group consumer (JoinGroup v2, OffsetCommit v2,
// OffsetFetch v1, FindCoordinator v0) reads a topic and commits.
func TestGroupKafkaPython(t *testing.T) {
	py := requireTool(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		t.Fatalf("python3-kafka missing for /usr/bin/python3 (apt-get install python3-kafka): %v", err)
	}
	tb := startBroker(t, t.TempDir())
	const topic, group, n = "py-group-topic", "py-group", 90
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceValues(t, tb, topic, batchValues("p", n))
	script := t.TempDir() + "/group.py"
	if err := os.WriteFile(script, []byte(kafkaPythonGroupScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(runCmd(t, "", py, script, tb.addr, topic, group, strconv.Itoa(n)))
	if want := fmt.Sprintf("%d p-00000 p-%05d", n, n-1); out != want {
		t.Fatalf("kafka-python consumed %q, want %q", out, want)
	}
	if c := committedTotal(t, tb, group, topic); c != n {
		t.Errorf("kafka-python committed %d offsets in total, want %d", c, n)
	}
}

// TestGroupBadInputErrorCodes: commits for unknown topics, stale generations, unknown members,
// commits between join and sync, and invalid joins get Kafka's error codes — per partition where
// Kafka answers per partition, without failing the rest of the request.
func TestGroupBadInputErrorCodes(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	c := dialRaw(t, tb.addr)
	rawCreateTopic(t, c, "known", 2)
	v := apis[8].max

	mixed := commitReq(v, "bad-simple", "", -1, "known", map[int32]int64{0: 1, 5: 1})
	unknown := kmsg.NewOffsetCommitRequestTopic()
	unknown.Topic = "unknown-topic"
	unknown.Partitions = []kmsg.OffsetCommitRequestTopicPartition{kmsg.NewOffsetCommitRequestTopicPartition()}
	mixed.Topics = append(mixed.Topics, unknown)
	resp := c.do(mixed).(*kmsg.OffsetCommitResponse)
	got := []int16{resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[0].Partitions[1].ErrorCode, resp.Topics[1].Partitions[0].ErrorCode}
	if want := []int16{0, errUnknownTopicOrPartition, errUnknownTopicOrPartition}; !slices.Equal(got, want) {
		t.Errorf("commit to a known partition, an unknown partition and an unknown topic: %v, want %v", got, want)
	}

	// A member between its JoinGroup and SyncGroup answers.
	j := rawJoin(t, c, apis[11].max, "bad-group", nil)
	if codes := rawCommit(t, c, v, "bad-group", j.MemberID, j.Generation, "known", map[int32]int64{0: 1}); codes[0] != codeRebalanceInProgress {
		t.Errorf("commit before SyncGroup: %v, want REBALANCE_IN_PROGRESS", codes)
	}
	rawSync(t, c, apis[14].max, "bad-group", j.MemberID, j.Generation, nil)
	for _, tc := range []struct {
		what   string
		member string
		gen    int32
		want   int16
	}{
		{"stale generation", j.MemberID, j.Generation - 1, codeIllegalGeneration},
		{"unknown member", "who", j.Generation, codeUnknownMemberID},
		{"no membership in an active group", "", -1, codeUnknownMemberID},
		{"current member and generation", j.MemberID, j.Generation, 0},
	} {
		if codes := rawCommit(t, c, v, "bad-group", tc.member, tc.gen, "known", map[int32]int64{0: 2}); codes[0] != tc.want {
			t.Errorf("commit with %s: %v, want %d", tc.what, codes, tc.want)
		}
	}
	empty := joinReq(apis[11].max, "", "", nil)
	if r := c.do(empty).(*kmsg.JoinGroupResponse); r.ErrorCode != codeInvalidGroupID {
		t.Errorf("JoinGroup with an empty group id: error %d", r.ErrorCode)
	}
	other := joinReq(apis[11].max, "bad-group", "", nil)
	other.Protocols[0].Name = "roundrobin"
	if r := c.do(other).(*kmsg.JoinGroupResponse); r.ErrorCode != 23 {
		t.Errorf("JoinGroup with no protocol in common: error %d, want INCONSISTENT_GROUP_PROTOCOL", r.ErrorCode)
	}
	// The connection is still good: bad input costs its sender an error code, nothing more.
	if off := rawFetch(t, c, apis[9].max, "bad-group", "known", 0)[0].Offset; off != 2 {
		t.Errorf("committed offset %d, want 2", off)
	}
}

// TestGroupOffsetsGoWithTheirTopic: deleting a topic removes every group's offsets for it, so a
// topic created again under the name starts without them.
func TestGroupOffsetsGoWithTheirTopic(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "doomed"); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "doomed", Partition: 0, At: 7, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "doomed", Partition: 1, At: 8, LeaderEpoch: -1})
	for _, g := range []string{"doomed-a", "doomed-b"} {
		if r, err := adm.CommitOffsets(ctx, g, offs); err != nil || r.Error() != nil {
			t.Fatalf("commit: %v %v", err, r.Error())
		}
	}
	if _, err := adm.DeleteTopics(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "doomed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "offsets of the deleted topic going", func() (bool, string) {
		total := committedTotal(t, tb, "doomed-a", "doomed") + committedTotal(t, tb, "doomed-b", "doomed")
		return total == 0, fmt.Sprintf("%d committed", total)
	})
}

// TestGroupDescribeAndLag: the data behind `sluice group describe` and the group metrics.
func TestGroupDescribeAndLag(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "lagging"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("lagging"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range 10 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "lagging", Partition: 0, At: 4, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "lag-group", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	d, err := tb.b.DescribeGroup("lag-group")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Partitions) != 1 || d.Partitions[0].CommittedOffset != 4 || d.Partitions[0].EndOffset != 10 || d.Partitions[0].Lag != 6 {
		t.Fatalf("describe: %+v", d)
	}
	var text, metrics bytes.Buffer
	if err := d.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "GROUP lag-group  STATE Empty") || !regexp.MustCompile(`lagging\s+0\s+4\s+10\s+6\s`).MatchString(text.String()) {
		t.Errorf("describe text:\n%s", text.String())
	}
	metrics.WriteString(scrapeMetrics(t, tb.b))
	for _, want := range []string{`sluice_group_lag{group="lag-group"} 6`, `sluice_group_partition_lag{group="lag-group",partition="0",topic="lagging"} 6`, `sluice_group_offset_commits_total 1`} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics.String())
		}
	}
	if _, err := tb.b.DescribeGroup("nobody"); err == nil {
		t.Error("describing an unknown group succeeded")
	}
}

// BenchmarkOffsetCommitOverTCP measures OffsetCommit end to end: franz-go clients, each on its
// own connection, sending one-partition OffsetCommit v8 requests back to back (as a consumer
// committing synchronously does) to a broker on 127.0.0.1, with the group store's default
// durability (fsync=false) or Fsync. Reports commits/s and the p50/p99 latency of one commit.
// Run: go test ./engine/broker -run - -bench OffsetCommitOverTCP -benchtime 5s
func BenchmarkOffsetCommitOverTCP(b *testing.B) {
	for _, fsync := range []bool{false, true} {
		for _, committers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("fsync=%v/committers=%d", fsync, committers), func(b *testing.B) {
				benchCommitOverTCP(b, fsync, committers)
			})
		}
	}
}

func benchCommitOverTCP(b *testing.B, fsync bool, committers int) {
	cfg := DefaultConfig()
	cfg.LogDir = b.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	gcfg := br.GroupConfig()
	gcfg.Fsync = fsync
	br.SetGroupConfig(gcfg)
	srv, err := netio.NewServer(netio.Config{Addr: "127.0.0.1:0"}, br)
	if err == nil {
		err = srv.Start(context.Background())
	}
	if err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Stop(); br.Close() }()
	addr := srv.Addr().String()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	br.SetAdvertisedAddr(host, int32(p))
	ctx := context.Background()
	clients := make([]*kgo.Client, committers)
	for i := range clients {
		if clients[i], err = kgo.NewClient(kgo.SeedBrokers(addr)); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	if _, err := kadm.NewClient(clients[0]).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := commitReq(8, fmt.Sprintf("bench-%d", i), "", -1, "bench", map[int32]int64{0: 0})
			var mine []time.Duration
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				req.Topics[0].Partitions[0].Offset = n
				t0 := time.Now()
				resp, err := req.RequestWith(ctx, cl)
				if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
					b.Errorf("commit: %v %+v", err, resp)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
}
