package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperationsAll is the bit field of the ACL operations a GROUP resource supports (bit n is
// operation n): READ 3, DELETE 6, DESCRIBE 8. Sluice has no authorizer, so every client may do
// all of them, which is what Kafka without an authorizer reports too.
const groupOperationsAll int32 = 1<<3 | 1<<6 | 1<<8

// ListGroups serves a ListGroups request: every group this coordinator knows, by name, optionally
// filtered by state (v4+, case-insensitive, as Kafka compares them).
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if c.closed.Load() {
		resp.ErrorCode = errClosed
		return resp
	}
	if c.loading() {
		resp.ErrorCode = errCoordinatorLoadInProgress // Kafka's answer while any partition loads
		return resp
	}
	for _, g := range c.sortedGroups() {
		g.mu.Lock()
		state, protocolType := g.state, g.protocolType
		g.mu.Unlock()
		if state == stateDead {
			continue
		}
		if len(req.StatesFilter) > 0 {
			match := false
			for _, f := range req.StatesFilter {
				match = match || strings.EqualFold(f, state.String())
			}
			if !match {
				continue
			}
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState = g.name, protocolType, state.String()
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups serves a DescribeGroups request. A group the coordinator does not know is
// described as Dead with no error (Kafka before v6). Members' metadata and assignments are only
// given while the group is Stable, as Kafka does: in other states they are in flux.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = name
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOperationsAll
		}
		if c.closed.Load() {
			dg.ErrorCode = errClosed
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if code := c.ownerCode(name); code != errNone {
			dg.ErrorCode = code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = stateDead.String()
		if g := c.lookupGroup(name); g != nil {
			g.mu.Lock()
			dg.State, dg.ProtocolType = g.state.String(), g.protocolType
			stable := g.state == stateStable
			if stable {
				dg.Protocol = g.protocol
			}
			for _, m := range g.sortedMembers() {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
				if stable {
					dm.ProtocolMetadata, dm.MemberAssignment = m.metadataFor(g.protocol), m.assignment
				}
				dg.Members = append(dg.Members, dm)
			}
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
