// Package replica is the replication core of one broker: per partition, the replica state machine
// (Partition: role, assignment, the leader's view of every follower, the in-sync replica set and
// the high watermark), and per source broker, the follower's fetcher (Fetcher) that copies a
// leader's log with Fetch requests after truncating to the leader's end for its epoch
// (OffsetForLeaderEpoch, KIP-101).
//
// It knows nothing of Kafka request handling or of the broker's topics: engine/broker feeds it
// follower fetches, appends and assignments, and implements Target (the follower side of one
// local partition) for the fetcher. Its only network code is the fetcher's client (client.go): one
// TCP connection per source broker speaking Fetch v12 and OffsetForLeaderEpoch v4 through kmsg.
//
// # Where assignments come from
//
// An Assignment (replicas, leader, leader epoch, partition epoch, ISR) is what the controller
// decides: engine/meta's Partition. Until the Raft controller is wired in, the broker receives
// assignments through Broker.SetPartitionState (tests call it directly). A leader never changes
// its own ISR: it proposes an ISRChange through an ISRChanger (meta.ChangeISR records later; a
// local implementation now), and the change takes effect when it comes back as an assignment with
// a higher PartitionEpoch — Kafka's AlterPartition. Until then the proposal is pending.
//
// # State machine (Partition)
//
// Roles: None (not a replica, or nothing assigned yet), Leader (Assignment.Leader is this node),
// Follower (a replica led by another node, or by nobody for now). Apply moves between them; an
// assignment whose LeaderEpoch, or whose PartitionEpoch within the same LeaderEpoch, is older than
// the current one is refused (ErrStaleAssignment).
//
// On becoming leader (a new LeaderEpoch naming this node) every follower's log end offset (LEO)
// becomes unknown; ISR members count as caught up at that moment, others as never caught up; the
// high watermark (HW) starts at the log's and the epoch's start offset is the log end offset.
//
// On every follower Fetch the leader records the follower's LEO (its fetch offset) and its
// last-caught-up time with Kafka's rule: caught up now if the fetch offset reached the leader's LEO,
// or caught up at the previous fetch if it reached the leader's LEO as of that fetch.
//
// # Invariants
//
//   - HW = min LEO over the maximal ISR (the ISR plus a pending expansion's new member; a pending
//     shrink still counts the members it would remove), leader included. A follower whose LEO is
//     unknown holds it where it is.
//   - HW advances only while |ISR| ≥ min.insync.replicas (KIP-966: a lone "last replica standing"
//     does not commit what nobody else holds), and never moves backwards.
//   - HW ≤ the leader's LEO; HW is published to the log (Hooks.PublishHighWatermark) under the
//     partition's lock, so publications are ordered.
//   - A follower leaves the ISR when its LEO differs from the leader's and it has not caught up for
//     more than replica.lag.time.max.ms (Tick); it joins when its LEO reaches both the HW and the
//     start of the leader's epoch (FollowerFetch). The leader is always in its own ISR, and at most
//     one ISR change is pending at a time.
//   - Produce with acks=all is refused (NOT_ENOUGH_REPLICAS) while |ISR| < min.insync.replicas.
//
// The follower's side (Fetcher, truncation.go):
//
//   - Before fetching in a new leader epoch a follower asks the leader for the end offset of its
//     own latest epoch and truncates to min(that, its own end for the epoch the leader answered
//     with); if the leader answers an older epoch the follower truncates to its end for that epoch
//     and asks again. It never truncates to its own high watermark, and an "undefined" answer (the
//     leader knows no epoch this old or older) truncates nothing: the follower backs off and asks
//     again.
//   - Batches are appended exactly as the leader stored them (offsets, epochs, CRC); the
//     follower's HW is min(leader's HW, its own LEO) and never moves backwards.
//
// # Goroutines
//
// Partition's methods may be called from any goroutine, including netio event loops: each takes
// the partition's mutex for a few field updates and never blocks or does I/O (PublishHighWatermark
// must not either). A Fetcher runs one goroutine and one connection; its Target calls may take the
// broker's partition locks and write to disk, so nothing may hold such a lock while waiting for a
// fetcher to stop. An ISRChanger may block (a Raft round trip): the broker calls it on its own
// goroutine.
package replica
