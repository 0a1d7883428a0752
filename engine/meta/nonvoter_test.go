package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// TestNonVoter: a node outside controller.quorum.voters joins the quorum of three voters as a
// non-voter through the join handshake on a voter's controller port (which a follower answers by
// naming the leader), receives every committed record, refuses proposals naming the leader,
// never becomes the controller when the leader goes, and after a restart from its directory
// catches up again. A join that claims a voter's id is refused.
func TestNonVoter(t *testing.T) {
	ports := freePorts(t, 4)
	voters, err := ParseQuorumVoters(fmt.Sprintf("1@127.0.0.1:%d,2@127.0.0.1:%d,3@127.0.0.1:%d", ports[0], ports[1], ports[2]))
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{t: t, voters: voters, dirs: map[int32]string{}, nodes: map[int32]*Controller{}}
	defer func() {
		for id := range cl.nodes {
			cl.stop(id)
		}
	}()
	for _, v := range voters {
		cl.dirs[v.ID] = t.TempDir()
		cl.start(v.ID)
	}
	leader := cl.leader()
	registerAndUnfence(t, leader, 1, 2, 3)

	// Ask a follower first: it points at the leader instead of adding anyone.
	var follower Voter
	for _, v := range voters {
		if v.ID != leader.cfg.NodeID {
			follower = v
		}
	}
	observerAddr := fmt.Sprintf("127.0.0.1:%d", ports[3])
	resp, err := askToJoin(follower.Addr(), joinRequest{NodeID: 4, Addr: observerAddr})
	if err != nil || resp.OK || resp.Leader == "" {
		t.Fatalf("join via follower %d: %+v, %v; want a pointer to the leader", follower.ID, resp, err)
	}
	if resp, err := askToJoin(resp.Leader, joinRequest{NodeID: 2, Addr: observerAddr}); err != nil || resp.OK || !strings.Contains(resp.Error, "is a voter") {
		t.Fatalf("join claiming voter id 2: %+v, %v; want refused", resp, err)
	}

	cl.dirs[4] = t.TempDir()
	startObserver := func() {
		cfg := testConfig(t, 4, voters, cl.dirs[4])
		cfg.ListenAddr = observerAddr
		c, err := Open(cfg)
		if err != nil {
			t.Fatalf("non-voter: %v", err)
		}
		cl.nodes[4] = c
	}
	startObserver()
	cl.converged(leader)
	assertNonVoter(t, leader, 4, observerAddr)
	var nc *NotControllerError
	if err := cl.nodes[4].Propose(context.Background(), RegisterBrokerRecords(cl.nodes[4].Image(), testRegistration(4, "", 1), Policy{})...); !errors.As(err, &nc) || nc.LeaderID != leader.cfg.NodeID {
		t.Fatalf("propose on the non-voter: %v, want NotController naming node %d", err, leader.cfg.NodeID)
	}
	registerAndUnfence(t, leader, 4)
	if img := cl.converged(leader); img.Broker(4) == nil || img.Broker(4).Fenced {
		t.Fatalf("broker 4 not registered and unfenced on every node:\n%s", img)
	}

	// The leader goes: a voter takes over, the non-voter follows it.
	old := leader.cfg.NodeID
	cl.stop(old)
	leader = cl.leader()
	if leader.cfg.NodeID == 4 || leader.cfg.NodeID == old {
		t.Fatalf("new leader %d", leader.cfg.NodeID)
	}
	propose(t, leader, FenceBrokerRecords(leader.Image(), old, Policy{})...)
	if img := cl.converged(leader); img.Broker(old) == nil || !img.Broker(old).Fenced {
		t.Fatalf("broker %d not fenced on every node", old)
	}

	// Restarted from its directory, with more committed meanwhile: it catches up.
	cl.stop(4)
	propose(t, leader, UnfenceBrokerRecords(leader.Image(), old, Policy{})...)
	startObserver()
	if img := cl.converged(leader); img.Broker(old).Fenced {
		t.Fatalf("the restarted non-voter missed a record:\n%s", img)
	}
	assertNonVoter(t, leader, 4, observerAddr)
}

// assertNonVoter: leader's Raft configuration has id as a non-voter at addr.
func assertNonVoter(t *testing.T, leader *Controller, id int32, addr string) {
	t.Helper()
	f := leader.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == serverID(id) {
			if s.Suffrage != raft.Nonvoter || s.Address != raft.ServerAddress(addr) {
				t.Fatalf("node %d in the configuration as %+v", id, s)
			}
			return
		}
	}
	t.Fatalf("node %d not in the configuration %+v", id, f.Configuration().Servers)
}
