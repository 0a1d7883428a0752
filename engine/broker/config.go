package broker

import (
	"log/slog"

	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/log"
)

// Config is the broker's configuration, one field per Kafka broker property it honours.
type Config struct {
	NodeID                   int32  // node.id
	AdvertisedHost           string // from advertised.listeners (or listeners)
	AdvertisedPort           int32
	LogDir                   string // log.dirs (one directory for now)
	NumPartitions            int32  // num.partitions: default for auto-created and CreateTopics -1
	DefaultReplicationFactor int16  // default.replication.factor
	AutoCreateTopics         bool   // auto.create.topics.enable
	// UncleanLeaderElection is unclean.leader.election.enable (Kafka: false): cluster mode may elect
	// an out-of-sync replica when no in-sync one is left, trading acknowledged records for
	// availability. A topic's own setting overrides it.
	UncleanLeaderElection bool
	MessageMaxBytes       int32 // message.max.bytes: largest batch accepted (topic: max.message.bytes)
	// LogDefaults are the topic defaults from the broker's log.* keys (log.retention.hours → RetentionMs,
	// log.retention.bytes, log.segment.bytes, log.segment.ms (log.roll.ms), log.flush.interval.messages,
	// log.flush.interval.ms, log.index.interval.bytes, log.index.size.max.bytes).
	LogDefaults log.Config
	// Cluster: this broker is one of several and its partitions are replicated as the controller
	// assigns them (SetPartitionState). A partition then opens with the high watermark its log
	// checkpointed, not at its log end: a restarted replica must not take its uncommitted tail
	// for committed. Without it (the single-node default) every stored record is committed.
	Cluster bool
	// Replication: min.insync.replicas (the broker default; the topic config overrides it) and
	// the replica.* settings of leaders and their followers' fetchers. Zero values take Kafka's
	// defaults (engine/replica).
	MinInsyncReplicas            int32 // min.insync.replicas
	ReplicaLagTimeMaxMs          int64 // replica.lag.time.max.ms
	ReplicaFetchWaitMaxMs        int32 // replica.fetch.wait.max.ms
	ReplicaFetchMaxBytes         int32 // replica.fetch.max.bytes (per partition)
	ReplicaFetchResponseMaxBytes int32 // replica.fetch.response.max.bytes
	ReplicaFetchBackoffMs        int64 // replica.fetch.backoff.ms
	ReplicaSocketTimeoutMs       int64 // replica.socket.timeout.ms
	// StaticConfigs are the broker properties the operator set — in the properties file, a SLUICE_
	// environment variable or a flag — by Kafka name, with the value as given (sluice serve's
	// provenance, which --print-config shows as FILE, ENV or FLAG). DescribeConfigs reports each as
	// STATIC_BROKER_CONFIG, as Kafka reports server.properties, and every other property as
	// DEFAULT_CONFIG. Nil (an embedding that does not track provenance: tests, the harness) falls
	// back to telling them apart by value: STATIC_BROKER_CONFIG when it differs from Kafka's
	// default.
	StaticConfigs map[string]string
	// The internal __consumer_offsets topic of a cluster (offsets_topic.go): its partitions
	// (offsets.topic.num.partitions) and replication factor (offsets.topic.replication.factor,
	// capped by the live brokers). Zero values take Kafka's defaults, 50 and 3.
	OffsetsTopicNumPartitions     int32
	OffsetsTopicReplicationFactor int16
	// Groups is the group coordinator's configuration (group.* and offsets.* properties). The zero
	// value means Kafka's defaults.
	Groups group.Config
	Logger *slog.Logger // nil: slog.Default()
}

// Kafka's broker defaults.
const (
	DefaultMessageMaxBytes = 1048588
	DefaultNumPartitions   = 1
)

// DefaultConfig is a single local broker: node 0 on 127.0.0.1:9092, data in ./data.
func DefaultConfig() Config {
	return Config{
		NodeID:                   0,
		AdvertisedHost:           "127.0.0.1",
		AdvertisedPort:           9092,
		LogDir:                   "data",
		NumPartitions:            DefaultNumPartitions,
		DefaultReplicationFactor: 1,
		AutoCreateTopics:         true,
		MessageMaxBytes:          DefaultMessageMaxBytes,
		LogDefaults:              defaultLogConfig(),
	}
}

// defaultLogConfig is engine/log's defaults with the broker's write mode: write-behind
// (log.write.mode=direct, engine/log/writebehind.go) for partitions written to fast and not read,
// buffered for the rest, which answers, shows and keeps records as buffered mode does for
// clients, at less CPU per byte where it writes behind (results/broker.md, ninth pass).
func defaultLogConfig() log.Config {
	c := log.DefaultConfig()
	c.WriteMode = log.WriteDirect
	return c
}
