// Package log is a partition's log: an ordered list of segments, each a <20-digit base offset>.log
// file of RecordBatch v2 bytes written sequentially, with a sparse offset index (.index) and time
// index (.timeindex) preallocated and mmap'd while the segment is active and trimmed when it rolls.
// It knows nothing of Kafka requests or sockets; the broker calls it.
//
// Directory layout (one per partition, <topic>-<partition>/, as Kafka's):
//
//	00000000000000000000.log        batches, offsets ascending, no gaps inside a segment
//	00000000000000000000.index      relative offset u32 → position u32, every index.interval.bytes
//	00000000000000000000.timeindex  timestamp i64 → relative offset u32 (see index.go)
//	checkpoint                      log start offset, recovery point, high watermark
//	leader-epoch-checkpoint         leader epoch → first offset (Kafka's format; epochs.go)
//	.clean-shutdown                 written by Close, removed by Open
//
// Concurrency contract:
//   - One writer at a time: Append, AppendAsFollower, Truncate, TruncateFully,
//     MaybeAssignEpochStartOffset, DeleteBefore, EnforceRetention, SetConfig and Close serialize
//     on the log's writer lock.
//   - Readers (Read, OffsetForTimestamp, RecordTimestamp, the offset getters) take no lock. They
//     load an atomically published segment list and per-segment sizes; the writer publishes bytes
//     only after writing them, so bytes below a published size never change — except through
//     Truncate, which the replication protocol only applies above the high watermark (consumers
//     never read there).
//   - A segment is reference-counted: the log holds one reference, each Read's Region another.
//     Deleted segments' files are unlinked at once but their descriptors and mappings stay valid
//     until the last Region is released, so sendfile never races a close or a descriptor reuse.
//
// Invariants: LogStartOffset ≤ HighWatermark ≤ LogEndOffset; a Region holds whole batches only;
// every stored batch's base offset and partition leader epoch were set by Append (or copied from
// the leader by AppendAsFollower); the rest of its bytes are the producer's, untouched.
//
// Durability: by default (like Kafka) nothing is fsynced on append; rolled segments are fsynced in
// the background and the recovery point moves past them. flush.messages / flush.ms start a
// per-log flusher doing group commit (flush.go). Close fsyncs everything and writes the
// clean-shutdown marker; Open without the marker rescans from the recovery point's segment,
// truncating at the first torn or corrupt batch and deleting later segments (recovery.go).
//
// Descriptors: one per segment file (.log); index files are mapped and their descriptors closed.
//
// File access goes straight to the OS (pread/pwrite via *os.File, mmap via x/sys/unix) rather than
// through a VFS interface: crash tests truncate and corrupt real files instead of simulating a
// page cache. A fault-injecting filesystem is future work.
package log
