package replica

// Kafka's sentinels in OffsetForLeaderEpoch answers (engine/log's UndefinedEpoch and
// UndefinedOffset).
const (
	undefinedEpoch  int32 = -1
	undefinedOffset int64 = -1
)

// Truncation is a follower's decision after the leader answered OffsetForLeaderEpoch for the
// follower's latest epoch.
type Truncation struct {
	// Offset is where to truncate the log. At or beyond the log end nothing is cut, but the log
	// still forgets a latest epoch that wrote nothing there.
	Offset int64
	// Done: fetching may start from the log end after truncating. Otherwise truncate, then ask
	// again with the log's new latest epoch (the leader answered an epoch the follower lacks).
	Done bool
	// Retry: the leader knows no epoch as old as the one asked (its log starts after it, or it is
	// behind this follower's assignment): truncate nothing, back off and ask again.
	Retry bool
}

// DecideTruncation is KIP-101 with KIP-279's refinement (Kafka's getOffsetTruncationState).
// leaderEpoch and leaderEndOffset are the leader's answer for the follower's latest epoch;
// followerEndOffsetForEpoch is the follower's own log's EndOffsetForEpoch; followerLEO its log end.
//
// The follower never truncates to its high watermark: the HW it holds may lag the leader's by a
// round trip, and truncating to it would drop records the leader has already acknowledged — which,
// if the leader then failed and this follower took over, would be lost (KIP-101's first scenario).
func DecideTruncation(leaderEpoch int32, leaderEndOffset int64, followerEndOffsetForEpoch func(int32) (int32, int64), followerLEO int64) Truncation {
	if leaderEndOffset == undefinedOffset || leaderEpoch == undefinedEpoch {
		return Truncation{Offset: followerLEO, Retry: true}
	}
	followerEpoch, followerEnd := followerEndOffsetForEpoch(leaderEpoch)
	switch {
	case followerEpoch == undefinedEpoch || followerEnd == undefinedOffset:
		// The follower tracks no epoch at or below the leader's answer: everything from the
		// leader's end on is not the leader's.
		return Truncation{Offset: min(leaderEndOffset, followerLEO), Done: true}
	case followerEpoch != leaderEpoch:
		// The leader answered an epoch the follower never saw: cut back to where the follower's
		// last epoch before it ends, and ask again with the epoch that leaves latest.
		return Truncation{Offset: min(followerEnd, followerLEO)}
	default:
		return Truncation{Offset: min(followerEnd, leaderEndOffset, followerLEO), Done: true}
	}
}
