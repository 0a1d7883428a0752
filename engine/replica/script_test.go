package replica

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScripts runs the state machine scripts under testdata/scripts: one partition on one broker,
// a fake clock and a fake log end offset, each command followed by what it did and the state it
// left. Commands:
//
//	new self=N [min-isr=N] [lag=MS]                 a fresh partition (time 0, log end 0)
//	assign replicas=(…) isr=(…) leader=N epoch=E pe=E [hw=N]
//	                                                Apply (hw: the log's, default the published one)
//	append n=N                                      the leader appended N records (Appended)
//	fetch id=N offset=N                             a follower fetched from offset (FollowerFetch)
//	advance ms=N                                    the clock moves
//	tick                                            the ISR expiration check (Tick)
//	commit                                          the controller commits the pending ISR change
//	abort                                           the controller refuses it (AbortISRChange)
//	produce acks=all|1                              CheckProduce
//	config min-isr=N                                SetConfig
//	fence id=N / unfence id=N                       the broker's image fences / unfences id (Eligible)
//
// Every high watermark publication is checked to move forward.
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		var s *script
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "new" {
				s = newScript(t, d)
				return s.state()
			}
			if s == nil {
				d.Fatalf(t, "%s before new", d.Cmd)
			}
			return s.run(t, d)
		})
	})
}

type script struct {
	t         *testing.T
	p         *Partition
	nowMs     int64
	leo       int64
	published []int64
	lastProp  *ISRChange
	fenced    map[int32]bool
}

func newScript(t *testing.T, d *datadriven.TestData) *script {
	s := &script{t: t, fenced: map[int32]bool{}}
	self, minISR, lag := 0, 1, 1000
	d.ScanArgs(t, "self", &self)
	d.MaybeScanArgs(t, "min-isr", &minISR)
	d.MaybeScanArgs(t, "lag", &lag)
	s.p = New(TopicPartition{"t", 0}, int32(self), Config{MinInsyncReplicas: int32(minISR), ReplicaLagTimeMaxMs: int64(lag)},
		Hooks{PublishHighWatermark: func(hw int64) {
			if n := len(s.published); n > 0 && hw <= s.published[n-1] {
				t.Fatalf("high watermark published %d after %d: backwards or repeated", hw, s.published[n-1])
			}
			s.published = append(s.published, hw)
		},
			Eligible: func(id int32) bool { return !s.fenced[id] },
		})
	return s
}

func ids(t *testing.T, d *datadriven.TestData, key string) []int32 {
	var out []int32
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		for _, v := range a.Vals {
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				d.Fatalf(t, "%s: %v", key, err)
			}
			out = append(out, int32(n))
		}
		return out
	}
	d.Fatalf(t, "missing %s", key)
	return nil
}

func (s *script) publishedHW() int64 {
	if n := len(s.published); n > 0 {
		return s.published[n-1]
	}
	return 0
}

func (s *script) run(t *testing.T, d *datadriven.TestData) string {
	var out []string
	update := func(u Update) {
		if u.HighWatermarkAdvanced {
			out = append(out, fmt.Sprintf("hw advanced to %d", u.HighWatermark))
		}
		if u.Propose != nil {
			s.lastProp = u.Propose
			out = append(out, fmt.Sprintf("propose isr=%s (leader epoch %d, partition epoch %d)", fmtIDs(u.Propose.ISR), u.Propose.LeaderEpoch, u.Propose.PartitionEpoch))
		}
	}
	fail := func(err error) { out = append(out, "error: "+err.Error()) }
	switch d.Cmd {
	case "assign":
		a := Assignment{Replicas: ids(t, d, "replicas"), ISR: ids(t, d, "isr")}
		var leader, epoch, pe int
		d.ScanArgs(t, "leader", &leader)
		d.ScanArgs(t, "epoch", &epoch)
		d.ScanArgs(t, "pe", &pe)
		a.Leader, a.LeaderEpoch, a.PartitionEpoch = int32(leader), int32(epoch), int32(pe)
		hw := int(s.publishedHW())
		d.MaybeScanArgs(t, "hw", &hw)
		tr, err := s.p.Apply(a, s.leo, int64(hw), s.nowMs)
		if err != nil {
			fail(err)
			break
		}
		out = append(out, fmt.Sprintf("%s → %s new-leader-epoch=%v", tr.From, tr.To, tr.NewLeaderEpoch))
		update(tr.Update)
	case "append":
		var n int
		d.ScanArgs(t, "n", &n)
		s.leo += int64(n)
		update(s.p.Appended(s.leo))
	case "fetch":
		var id, off int
		d.ScanArgs(t, "id", &id)
		d.ScanArgs(t, "offset", &off)
		u, err := s.p.FollowerFetch(int32(id), int64(off), s.leo, s.nowMs)
		if err != nil {
			fail(err)
		}
		update(u)
	case "advance":
		var ms int
		d.ScanArgs(t, "ms", &ms)
		s.nowMs += int64(ms)
	case "tick":
		update(s.p.Tick(s.leo, s.nowMs))
	case "commit":
		if s.lastProp == nil {
			d.Fatalf(t, "commit without a proposal")
		}
		v := s.p.View()
		a := v.Assignment.Clone()
		a.ISR, a.PartitionEpoch = slices.Clone(s.lastProp.ISR), s.lastProp.PartitionEpoch+1
		s.lastProp = nil
		tr, err := s.p.Apply(a, s.leo, s.publishedHW(), s.nowMs)
		if err != nil {
			fail(err)
			break
		}
		update(tr.Update)
	case "abort":
		if s.lastProp == nil {
			d.Fatalf(t, "abort without a proposal")
		}
		s.p.AbortISRChange(s.lastProp.PartitionEpoch)
		s.lastProp = nil
	case "produce":
		var acks string
		d.ScanArgs(t, "acks", &acks)
		epoch, err := s.p.CheckProduce(acks == "all")
		switch {
		case errors.Is(err, ErrNotLeader):
			out = append(out, "NOT_LEADER_OR_FOLLOWER")
		case errors.Is(err, ErrNotEnoughReplicas):
			out = append(out, "NOT_ENOUGH_REPLICAS")
		case err != nil:
			fail(err)
		default:
			out = append(out, fmt.Sprintf("append in leader epoch %d", epoch))
		}
	case "config":
		var minISR int
		d.ScanArgs(t, "min-isr", &minISR)
		cfg := s.p.Config()
		cfg.MinInsyncReplicas = int32(minISR)
		s.p.SetConfig(cfg)
	case "fence", "unfence":
		var id int
		d.ScanArgs(t, "id", &id)
		s.fenced[int32(id)] = d.Cmd == "fence"
	default:
		d.Fatalf(t, "unknown command %s", d.Cmd)
	}
	return strings.Join(append(out, s.state()), "\n")
}

// state renders the partition: role, assignment, HW, log end, pending ISR and followers.
func (s *script) state() string {
	st := s.p.Status()
	var b strings.Builder
	fmt.Fprintf(&b, "t=%d %s", s.nowMs, st.Role)
	if st.LeaderEpoch >= 0 {
		fmt.Fprintf(&b, " leader=%d epoch=%d pe=%d isr=%s", st.Leader, st.LeaderEpoch, st.PartitionEpoch, fmtIDs(st.ISR))
	}
	fmt.Fprintf(&b, " hw=%d leo=%d", st.HighWatermark, s.leo)
	if st.PendingISR != nil {
		fmt.Fprintf(&b, " pending=%s", fmtIDs(st.PendingISR))
	}
	for _, f := range st.Followers {
		leo := "?"
		if f.LogEndOffset >= 0 {
			leo = strconv.FormatInt(f.LogEndOffset, 10)
		}
		fmt.Fprintf(&b, "\n  follower %d leo=%s caught-up=%d", f.ID, leo, f.LastCaughtUpMs)
		if f.InISR {
			b.WriteString(" in-sync")
		}
	}
	return b.String()
}

func fmtIDs(v []int32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(int(x))
	}
	return "(" + strings.Join(s, ",") + ")"
}
