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
	MessageMaxBytes          int32  // message.max.bytes: largest batch accepted (topic: max.message.bytes)
	// LogDefaults are the topic defaults from the broker's log.* keys (log.retention.hours → RetentionMs,
	// log.retention.bytes, log.segment.bytes, log.segment.ms (log.roll.ms), log.flush.interval.messages,
	// log.flush.interval.ms, log.index.interval.bytes, log.index.size.max.bytes).
	LogDefaults log.Config
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
		LogDefaults:              log.DefaultConfig(),
	}
}
