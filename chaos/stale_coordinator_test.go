//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPausedCoordinatorServesNoStaleOffsets replays, deterministically, what `make chaos` seed
// 759529459 hinted at (committed offsets going backwards after pauses): a group coordinator is
// paused (SIGSTOP) until it is fenced and another broker coordinates the group, a commit lands
// there, and a request queued at the paused broker is answered when it resumes. The resumed
// broker still believes it leads the group's offsets partition until it hears from the
// controller; an OffsetFetch it answers from its own store then hands out the older commit, and
// a consumer starting from it goes back. It must answer the new commit or an error that sends
// the client to the coordinator. The paused broker is also the active controller, which, resumed,
// still believes it decides (ControllerLink.heartbeat's VerifyLeader). Run it with `go test -tags chaos -run
// TestPausedCoordinatorServesNoStaleOffsets ./chaos`.
func TestPausedCoordinatorServesNoStaleOffsets(t *testing.T) {
	dir := t.TempDir()
	bin := buildSluice(t, dir, false)
	ctx := context.Background()
	cfg := Config{Binary: bin, Dir: dir, LogLevel: os.Getenv("CHAOS_LOG_LEVEL"), Logf: t.Logf}
	const topic = "stale"
	group := "stale-group"
	c, err := startAndSettle(ctx, cfg, filepath.Join(dir, "cluster"), 0, map[string]int32{topic: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// coordinator asks node via for the group's coordinator until one is named.
	coordinator := func(via *Node) int32 {
		t.Helper()
		var id int32 = -1
		err := waitUntil(ctx, clusterWait, func() bool {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey, req.CoordinatorKeys = group, []string{group} // v0-3, v4+
			kr, err := via.Request(ctx, req)
			if err != nil {
				return false
			}
			resp := kr.(*kmsg.FindCoordinatorResponse)
			code, node := resp.ErrorCode, resp.NodeID
			if len(resp.Coordinators) == 1 {
				code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
			}
			if code != 0 || node < 1 || node > nodes {
				return false
			}
			id = node
			return true
		})
		if err != nil {
			t.Fatalf("FindCoordinator through node %d: %v", via.ID, err)
		}
		return id
	}
	// commit commits offset through node until it is accepted (a simple commit: no generation).
	commit := func(n *Node, offset int64) {
		t.Helper()
		err := waitUntil(ctx, clusterWait, func() bool {
			req := kmsg.NewPtrOffsetCommitRequest()
			req.Group, req.Generation = group, -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = 0, offset
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			kr, err := n.Request(ctx, req)
			if err != nil {
				return false
			}
			resp := kr.(*kmsg.OffsetCommitResponse)
			return len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].ErrorCode == 0
		})
		if err != nil {
			t.Fatalf("committing %d at node %d: %v", offset, n.ID, err)
		}
	}
	fetchReq := func() *kmsg.OffsetFetchRequest { // v0-7 and v8+ alike
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = group
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = topic, []int32{0}
		rg.Topics = append(rg.Topics, gt)
		req.Groups = append(req.Groups, rg)
		return req
	}

	// A group whose coordinator is also the active controller: paused, it misjudges both its
	// leaderships and whether other brokers are caught up.
	ctrl := c.View(ctx, topic).Controller
	for i := 0; coordinator(c.Node(1)) != ctrl; i++ {
		if i == 500 {
			t.Fatalf("no group among %d coordinated by the controller, node %d", i, ctrl)
		}
		group = fmt.Sprintf("stale-group-%d", i)
	}
	old := c.Node(ctrl)
	t.Logf("group %s: coordinator and controller node %d", group, ctrl)
	commit(old, 10)
	if _, err := old.Request(ctx, fetchReq()); err != nil { // the direct connection is open before the pause
		t.Fatal(err)
	}
	t.Logf("pausing the coordinator, node %d", old.ID)
	old.Pause()
	other := c.Node(old.ID%nodes + 1)
	var next *Node
	if err := waitUntil(ctx, clusterWait, func() bool {
		id := coordinator(other)
		next = c.Node(id)
		return id != old.ID
	}); err != nil {
		old.Resume()
		t.Fatalf("no other coordinator while node %d is paused: %v", old.ID, err)
	}
	t.Logf("node %d coordinates the group now", next.ID)
	commit(next, 20)

	// An OffsetFetch queued at the paused broker, answered as it resumes.
	type result struct {
		resp kmsg.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		kr, err := old.RequestWithin(ctx, 30*time.Second, fetchReq())
		done <- result{kr, err}
	}()
	time.Sleep(500 * time.Millisecond)
	old.Resume()
	r := <-done
	if r.err != nil {
		t.Fatalf("OffsetFetch at the resumed node %d: %v", old.ID, r.err)
	}
	resp := r.resp.(*kmsg.OffsetFetchResponse)
	code, offset := resp.ErrorCode, int64(-2)
	switch {
	case len(resp.Groups) == 1:
		g := resp.Groups[0]
		code = g.ErrorCode
		if len(g.Topics) == 1 && len(g.Topics[0].Partitions) == 1 {
			p := g.Topics[0].Partitions[0]
			offset = p.Offset
			if code == 0 {
				code = p.ErrorCode
			}
		}
	case len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1:
		p := resp.Topics[0].Partitions[0]
		offset = p.Offset
		if code == 0 {
			code = p.ErrorCode
		}
	}
	if code == 0 && offset == -2 {
		t.Fatalf("the resumed node %d answered an OffsetFetch of another shape: %+v", old.ID, resp)
	}
	t.Logf("the resumed node %d answered error code %d, offset %d", old.ID, code, offset)
	if code == 0 && offset != 20 {
		t.Errorf("the resumed node %d answered committed offset %d, after node %d had accepted 20", old.ID, offset, next.ID)
	}
}
