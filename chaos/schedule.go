package chaos

import (
	"fmt"
	"math/rand/v2"
)

// Fault kinds.
const (
	FaultKill    = "kill"    // kill -9, restarted after the hold
	FaultPause   = "pause"   // SIGSTOP, SIGCONT after the hold
	FaultCut     = "cut"     // every link into the victim broken (CutRefuse or CutBlackhole), healed after the hold
	FaultRestart = "restart" // SIGTERM (a clean exit is required), started again after the hold
)

// Step is one fault of the nemesis: what, to whom, for how long, and the quiet after healing.
// Victims are chosen when the step runs: the leader of a partition (LeaderOf ≥ 0, an index into
// the run's partitions in order) or a node (Node, when LeaderOf is -1).
type Step struct {
	Kind     string `json:"kind"`
	CutMode  string `json:"cutMode,omitempty"`
	LeaderOf int    `json:"leaderOf"`
	Node     int32  `json:"node,omitempty"`
	HoldMs   int    `json:"holdMs"`
	QuietMs  int    `json:"quietMs"`
}

func (s Step) String() string {
	who := fmt.Sprintf("node %d", s.Node)
	if s.LeaderOf >= 0 {
		who = fmt.Sprintf("leader of partition #%d", s.LeaderOf)
	}
	kind := s.Kind
	if s.CutMode != "" {
		kind += "(" + s.CutMode + ")"
	}
	return fmt.Sprintf("%s %s for %d ms, then %d ms quiet", kind, who, s.HoldMs, s.QuietMs)
}

// Hold bounds: long enough for a new leader in the worst legitimate case, short enough for many
// faults a run. The worst case is a victim that is also the active controller: the other voters
// notice and elect a new Raft leader (measured up to ~5 s with pre-vote on a -race build), and
// the new controller gives every broker a full session (sessionTimeoutMs) before it may fence
// one, as KRaft's does. A hold of one session plus 3 s failed a CI run that paused the
// controller for 6.9 s (new leader at ~8.5 s).
const (
	holdMsMin  = 2*sessionTimeoutMs + 5000
	holdMsMax  = holdMsMin + 6000
	quietMsMin = 1000
	quietMsMax = 4000
)

// Schedule is the nemesis's plan: n steps drawn from seed, the same plan for the same seed.
// Faults that take a leader away are the most common (they exercise elections, truncation and
// the producers' retries); one in three steps picks a node at random instead (a follower or the
// controller).
func Schedule(seed uint64, n, partitions int) []Step {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	kinds := []string{FaultKill, FaultKill, FaultPause, FaultPause, FaultCut, FaultCut, FaultRestart}
	steps := make([]Step, 0, n)
	for range n {
		s := Step{
			Kind:     kinds[rng.IntN(len(kinds))],
			LeaderOf: -1,
			HoldMs:   holdMsMin + rng.IntN(holdMsMax-holdMsMin+1),
			QuietMs:  quietMsMin + rng.IntN(quietMsMax-quietMsMin+1),
		}
		if rng.IntN(3) > 0 && partitions > 0 {
			s.LeaderOf = rng.IntN(partitions)
		} else {
			s.Node = int32(1 + rng.IntN(nodes))
		}
		if s.Kind == FaultCut {
			s.CutMode = []string{CutRefuse, CutBlackhole}[rng.IntN(2)]
		}
		steps = append(steps, s)
	}
	return steps
}
