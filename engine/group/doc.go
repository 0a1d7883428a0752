// Package group is Sluice's group coordinator: Kafka's classic consumer-group protocol
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups) and
// committed offsets (OffsetCommit, OffsetFetch, OffsetDelete), with lag for operators (Describe,
// Collector). FindCoordinator is the broker's: this node, or in a cluster the leader of the
// group's __consumer_offsets partition.
//
// # What it owns
//
// Every group's in-memory state — members, generation, leader, selected protocol, assignments,
// the state machine of state.go (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead) —
// and a pebble store of committed offsets and group metadata under log.dirs. Assignment runs in
// the clients: the coordinator hands the leader every member's metadata for the protocol it
// selected (the protocol all members support with the most first-choice votes) and relays the
// leader's SyncGroup assignment to each member, so eager and cooperative (incremental) assignors
// work alike.
//
// # On disk
//
// Two kinds of keys, those of Kafka's __consumer_offsets (record.go has the byte layout):
// 'o'|group|topic|partition → OffsetValue (offset, leader epoch, metadata, commit and expire
// timestamps) and 'g'|group → GroupValue (protocol type, generation, protocol, leader, and each
// member with its subscription and assignment). Keys sort by group, then topic, then partition,
// so a group's offsets and its lag are one range read and deleting them one range delete. Values
// carry a format version byte.
//
// # One door for durable changes
//
// The coordinator never writes the store directly. Every durable change is a Record (set,
// delete, delete-range; record.go) appended to the journal (journal.go), and the journal hands
// batches of records to an Applier (store.go: one pebble batch per call). Records need no reads
// to apply, so applying the same sequence anywhere gives the same state.
//
// # In a cluster (replicated.go)
//
// Replicate switches the journal to one the broker supplies: a group's records are appended to
// its partition of the internal __consumer_offsets topic (PartitionFor: Kafka's
// abs(hashCode(group)) % partitions), and the write is answered once the partition's high
// watermark has passed them and they are applied here. Every replica applies its partitions'
// records below the high watermark with ApplyReplicated, the partition's applied offset in the
// same pebble batch. The coordinator then coordinates only the groups of the partitions the
// broker leads: BeginLoad (COORDINATOR_LOAD_IN_PROGRESS), LoadPartition (the groups built from
// the store with the same code Open runs), UnloadPartition (parked requests get NOT_COORDINATOR,
// the groups are dropped; the store keeps them). Any other group gets NOT_COORDINATOR, and so
// do a loaded partition's groups whenever the Journal says the broker may not lead the partition
// (Journal.Leading): its leadership moved and UnloadPartition has not run yet, or the broker has not
// heard from the controller lately and may have lost it unknowingly (resumed from a pause). A failed
// replicated write answers the code its AppendError carries (Kafka's mapping of failed
// offsets-topic writes).
//
// Replies that depend on a write (OffsetCommit, the SyncGroup that carries the leader's
// assignment, DeleteGroups, OffsetDelete, a static member's rejoin) are sent once the journal
// has applied it. On a single node: by default once pebble has it in its write-ahead log (page-cache durability,
// like Kafka's default), with Config.Fsync after an fsync that covers every request queued
// behind it.
//
// # Goroutines and locks
//
// Every exported method may be called from any goroutine, including a netio event loop: none
// blocks on I/O or waits for another request. Requests that must wait (a JoinGroup until the join
// phase ends, a follower's SyncGroup until the leader's, writes until applied) take a reply
// function that is called exactly once, later, from the goroutine that completed them: another
// request's, a timer's, or the journal writer's. Reads of committed offsets (OffsetFetch,
// Describe, Collector) are pebble point gets and iterations on the caller's goroutine.
//
// Each group has a mutex; the coordinator's mutex guards only the map of groups (lock order: a
// group, then the coordinator; never two groups). State changes made under a group's lock
// collect their replies in an outbox that is flushed after the lock is released, so no reply
// runs under a lock. Records are appended under the group's lock, which keeps one group's writes
// in order.
//
// Timers — session expiry, pending-member (MEMBER_ID_REQUIRED) expiry, the rebalance timeout,
// group.initial.rebalance.delay.ms, the sync timeout, the offset retention pass — come from an
// injectable Clock; the state machine's tests drive them with a fake one. A timer that fires after
// the state it was armed for has moved on finds a newer sequence number or generation and does
// nothing.
//
// # Invariants
//
//   - Every request is answered exactly once, including when it is superseded (a second JoinGroup
//     from a member already waiting gets REBALANCE_IN_PROGRESS; Kafka drops the first) and when
//     the coordinator closes (NOT_COORDINATOR, as Kafka answers when it unloads a group).
//   - A generation's assignment is installed only if the group is still in that generation and
//     completing its rebalance when the leader's write is applied.
//   - A group is removed (Dead) only with no members, no pending members and no offsets, and only
//     when none of its writes is queued.
//   - Offsets of a deleted topic are removed behind every commit queued before the deletion.
package group
