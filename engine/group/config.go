package group

import (
	"log/slog"
	"math"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// Config is the coordinator's share of the broker configuration: Kafka's property names, Kafka's
// defaults. It may be replaced while the coordinator runs (Coordinator.SetConfig); a change
// applies to the next decision that reads it (a join, a timer being armed, a retention pass).
type Config struct {
	GroupMinSessionTimeoutMs        int32 // group.min.session.timeout.ms
	GroupMaxSessionTimeoutMs        int32 // group.max.session.timeout.ms
	GroupInitialRebalanceDelayMs    int32 // group.initial.rebalance.delay.ms: an empty group waits for more joiners
	GroupMaxSize                    int32 // group.max.size
	OffsetsRetentionMinutes         int32 // offsets.retention.minutes
	OffsetsRetentionCheckIntervalMs int64 // offsets.retention.check.interval.ms
	OffsetMetadataMaxBytes          int32 // offset.metadata.max.bytes
	// Fsync makes every batch of coordinator writes (offset commits, group metadata) wait for an
	// fsync before it is answered; one fsync covers every request queued behind it. Off (the
	// default), a commit is answered once it is in pebble's WAL in the page cache: it survives a
	// crash of the process, not of the machine — Kafka's own default for __consumer_offsets
	// without replicas. Sluice-specific.
	Fsync bool
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		GroupMinSessionTimeoutMs:        6000,
		GroupMaxSessionTimeoutMs:        1800000,
		GroupInitialRebalanceDelayMs:    3000,
		GroupMaxSize:                    math.MaxInt32,
		OffsetsRetentionMinutes:         10080,
		OffsetsRetentionCheckIntervalMs: 600000,
		OffsetMetadataMaxBytes:          4096,
	}
}

// Fixed bounds of the coordinator (Kafka's constants of the same meaning).
const (
	// newMemberJoinTimeout bounds how long a member that joined for the first time may wait in
	// JoinGroup before it is dropped: it has no member id to heartbeat with yet, and a client that
	// gave up on its request would otherwise hold every rebalance of the group until its
	// rebalance timeout (Kafka: group.classic.new.member.join.timeout, 5 minutes).
	newMemberJoinTimeout = 5 * time.Minute
	// offsetRetentionMinMinutes keeps a zero or negative offsets.retention.minutes from deleting
	// every offset at once.
	offsetRetentionMinMinutes = 1
	// retentionCheckIntervalMin bounds how often the retention pass may run.
	retentionCheckIntervalMin = 10 * time.Millisecond
	// groupLookupRetries bounds the retries of a request that found its group being removed
	// (Dead) by the retention pass or DeleteGroups at the same moment.
	groupLookupRetries = 3
)

// Topics is what the coordinator needs to know of the broker's topics. Safe to call from any
// goroutine, with or without the coordinator's locks held; it must not call the coordinator.
type Topics interface {
	// Partitions returns the topic's partition count, or -1 if the topic does not exist.
	Partitions(topic string) int32
	// HighWatermark returns the partition's high watermark, or -1 if it does not exist.
	HighWatermark(topic string, partition int32) int64
}

// Options are the coordinator's environment: where it stores state and what it runs on.
type Options struct {
	Config Config
	Topics Topics
	// FS is where pebble keeps its files; nil is the operating system's. Tests use vfs.NewMem or
	// vfs.NewStrictMem (crash tests).
	FS vfs.FS
	// Clock drives every timer (session expiry, rebalance and initial-delay timeouts, sync
	// timeouts, offset retention); nil is real time. Unit tests of the state machine inject a fake.
	Clock Clock
	// NewMemberID returns a member id for a client (Kafka: "<client.id or group.instance.id>-<uuid>");
	// nil is that. Tests make ids predictable.
	NewMemberID func(prefix string) string
	Logger      *slog.Logger // nil: slog.Default()
}

// Clock is time as the coordinator sees it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f on its own goroutine (or, for a fake clock, inside Advance) after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
