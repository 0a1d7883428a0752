// Package meta owns the cluster metadata image and the Raft controller that changes it: which
// brokers exist (id, listeners, rack, fenced, broker epoch), which topics (name, id, configs), each
// partition's replicas, leader, leader epoch, partition epoch and ISR, and the producer-id blocks
// handed to brokers. Metadata changes only through records committed to the controller's Raft log;
// every node applies the same records to the same image.
//
// # Layers
//
// A deterministic core with I/O at the edges, as etcd raft is built:
//
//   - image.go, records.go, apply.go, invariants.go: the Image (immutable), the records (modelled
//     on KRaft's: RegisterBroker, FenceBroker, UnfenceBroker, CreateTopic, DeleteTopic,
//     CreatePartitions, AlterTopicConfig, ChangeISR, ElectLeader, AllocateProducerIDs,
//     ReassignPartition) and the pure
//     ApplyBatch(image, records) → (image', error), which validates every record against the image
//     it meets and rejects a batch all or none. No I/O, no clocks, no map-order dependence.
//   - decide.go: the active controller's decisions, also pure: replica placement (round-robin,
//     rack-aware), fencing a broker past broker.session.timeout.ms (Liveness, with time passed in),
//     unfencing, leaderless, preferred and unclean leader election (ElectLeaders), topic deletion,
//     partition reassignment and its completion (KIP-455), producer-id blocks. They return records;
//     they never change an image.
//   - codec.go: the binary encodings of record batches (Raft entries) and images (snapshots), with
//     a CRC32C on snapshots and invariants checked on every decoded image.
//   - fsm.go, controller.go, logstore.go: the shell. hashicorp/raft v1.8.0 with the image as its
//     FSM, snapshots through raft's FileSnapshotStore, the log in pebble, a TCP transport on the
//     CONTROLLER address (an in-memory one for the single-node default, which opens no port).
//   - transport.go: that TCP listener also answers the join handshake of a node outside
//     controller.quorum.voters (KRaft's broker-only role): the Raft leader adds it as a non-voter,
//     which receives and applies the log (or a snapshot) like any member but never votes or leads.
//     Connections are told apart by their first byte (raft's message types are 0–3, a join 'J').
//
// # Invariants
//
// Listed in invariants.go. The central ones: a leader is an unfenced member of its ISR; the ISR is
// a non-empty subset of the replicas and never empties — when its last member is fenced that
// member stays as the only in-sync replica and the partition has no leader, unless the topic
// allows unclean election (then another live replica leads alone, in a record marked Unclean);
// the leader epoch grows on every leader change and the partition epoch on every change, so a
// leader's ChangeISR decided on an old partition state is rejected. With -tags invariants (and
// under -race, so in every test run) the whole image is checked after every applied record.
//
// # Log store: pebble, not raft-wal
//
// The Raft log and stable store (term, vote) live in one pebble database (LogStore). pebble is
// already Sluice's embedded store (the group coordinator's offsets), so the binary gains no
// second storage engine and no new dependency (hashicorp/raft-wal brings go.etcd.io/bbolt for its
// metadata and its own segment format to learn and operate). pebble's vfs lets the store's tests
// run on vfs.NewStrictMem and drop unsynced writes to simulate a crash. raft-wal's advantage —
// append throughput and no compaction — does not matter here: the metadata log sees a few writes a
// second of a few hundred bytes, and snapshots truncate it. Every write is a synced pebble batch.
//
// # Goroutines
//
// Image, Watch, IsActive, Leader and Propose may be called from any goroutine. Images are
// immutable and published through an atomic pointer; the FSM runs on raft's goroutine and never
// blocks on a watcher (a watcher's channel holds only the newest image). Propose blocks until its
// batch is applied on this node: never call it on a netio event loop.
//
// # What the broker does with it
//
// engine/broker's ControllerLink (controller.go there) does what follows. Propose returns a
// *NotControllerError naming the active controller on any other node; the broker runs the
// decision on that node's link (ControllerLinkConfig.Route, in-process) or forwards the request to
// its Kafka listener. Brokers register and heartbeat to the active controller, whose loop holds a
// Liveness, proposes FenceExpiredRecords and completes reassignments
// (CompleteReassignmentRecords); leaders propose ChangeISR; admin requests become the records of
// CreateTopicRecord, CreatePartitionsRecord, DeleteTopicRecord, AlterTopicConfig,
// ElectLeaderRecord and ReassignPartitionRecord; every broker watches the image and becomes
// leader, follower or neither of each partition as its Leader and Replicas say, with LeaderEpoch
// stamped into its batches.
package meta
