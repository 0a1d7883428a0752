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
//	write-behind.ring               log.write.mode=direct only: the ring, header (ringfile.go)
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
// Write-behind (Config.WriteMode = WriteDirect, broker key log.write.mode=direct, the broker's
// default; writebehind.go):
// Append copies the batch into a ring (non-temporal stores: only the disk reads it) and the
// process's one writer goroutine writes it with O_DIRECT. The published sizes and Read then
// follow what is written, not what is appended (LogEndOffset and the high watermark still count
// every append; WaitReadable waits for the writer); roll, Truncate, Flush and Close drain the
// ring first. The ring is a file
// (write-behind.ring) mapped shared: after a killed process, Open writes its unwritten bytes into
// the active segment before recovery scans it (ringfile.go), so what an answer covered survives a
// process crash as in buffered mode. Rings are bounded per broker (RingBudget) and go to logs
// appended to fast (log.write.direct.min.bytes.per.second) that nobody read in the last three
// seconds (log.write.direct.unread.only): a slow or read log, or one written to while none is
// free, writes buffered until it gets one.
//
// Descriptors: one per segment file (.log); index files are mapped and their descriptors closed.
//
// Page cache (pagecache.go, results/broker.md): the active segment's blocks are reserved ahead of
// its data (fallocate KEEP_SIZE, log.preallocate.bytes; the file size, which readers and recovery
// go by, only ever covers data) and what is left is given back on roll and Close. Data further
// than log.page.cache.tail.bytes behind the end, and behind every reader of the last second or
// two, is advised out of the page cache (POSIX_FADV_DONTNEED, on one trimmer goroutine), so a
// steady writer recycles pages instead of taking fresh ones. Both are advice: they never change
// what is stored or published, and the kernel drops only pages already written back.
//
// Disk faults (verified by diskfault_test.go here and engine/broker/diskfaults*_test.go):
//   - A failed write (ENOSPC, EIO, short write) fails that Append and nothing else: every step
//     that can fail (roll, leader-epoch checkpoint, the pwrite) runs before anything is
//     published, a torn write is truncated back to the published size, and the log end offset
//     never passes the last whole batch. The broker answers KAFKA_STORAGE_ERROR (56) for that
//     partition; other partitions, reads and later appends go on, and once space is freed the
//     same log takes writes again without a restart. Kafka instead takes the whole log
//     directory offline on any IOException; Sluice keeps the failure per append because a full
//     disk is transient and operator-fixable, and a partition that cannot write still serves
//     reads and followers. With write-behind a failed write comes after the answers to the
//     batches it covers: they stay in the ring, the write is retried every writeRetryInterval,
//     and until it succeeds new appends fail (ENOSPC); on a nearly full disk no ring is
//     reserved and appends are written as above (writebehind.go).
//   - A roll creates the new segment before sealing the old one: when the files cannot be
//     created the old segment stays the writable active one.
//   - Index files are grown sparse (like Kafka's) and written through a shared mapping; a store
//     into a page with no block behind it on a full file system raises SIGBUS and kills the
//     process. Blocks are allocated with fallocate in indexReserveBytes chunks before entries
//     are written; when that fails the entry is skipped (the index is sparse; lookups scan on).
//   - A failed fsync is different: the kernel may have dropped the dirty pages and cleared the
//     error, so a retried fsync proves nothing (PostgreSQL's "fsyncgate"). The log goes offline
//     (ErrLogOffline): appends, Flush and WaitDurable fail until a restart, Close leaves no
//     clean-shutdown marker, and the next Open rescans from the recovery point, which never
//     moved past the failed fsync.
//   - Corruption: Open after an unclean shutdown CRC-checks every batch from the recovery point's
//     segment on and cuts the log at the first bad or torn one. Below the recovery point (and
//     after a clean shutdown) segments are trusted, as in Kafka, unless RecoveryVerifyAll (broker
//     key log.recovery.verify.all, Sluice's own) rescans everything. Reads are served with
//     sendfile and not CRC-checked: a bit flipped below the recovery point while the broker runs
//     reaches consumers, which check CRCs themselves, and followers, which validate every fetched
//     batch (ValidateStored in the broker's follower append) and refuse it, so the corruption
//     does not replicate and the follower drops out of the ISR. CommittedLostOnOpen reports
//     offsets below the checkpointed high watermark that recovery cut: such a replica must not
//     lead while one holding them is available (see results/diskfaults.md for what the
//     controller does today).
//
// File access goes straight to the OS (pread/pwrite via *os.File, mmap via x/sys/unix) rather than
// through a VFS interface: crash tests truncate and corrupt real files instead of simulating a
// page cache, and the full-disk tests fill a real tmpfs. Two test seams stand in for the OS where
// a real fault cannot be produced on demand: writeAtHook (failed and short writes) and syncHook
// (fsync errors).
package log
