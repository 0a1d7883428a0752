package broker

import (
	"fmt"
	"strconv"

	"github.com/sluicemq/sluice/engine/log"
)

// Topic configs Sluice honours, under Kafka's names. Anything else is INVALID_CONFIG.
var topicConfigKeys = map[string]bool{
	"retention.ms": true, "retention.bytes": true, "segment.bytes": true, "segment.ms": true,
	"cleanup.policy": true, "max.message.bytes": true, "min.insync.replicas": true,
	"flush.messages": true, "flush.ms": true, "message.timestamp.type": true,
	"index.interval.bytes": true, "segment.index.bytes": true, "unclean.leader.election.enable": true,
}

// topicLogConfig applies a topic's configs over the broker's log defaults.
func topicLogConfig(defaults log.Config, configs map[string]string) (log.Config, error) {
	cfg := defaults
	for k, v := range configs {
		if !topicConfigKeys[k] {
			return cfg, fmt.Errorf("unknown topic config %q", k)
		}
		switch k {
		case "cleanup.policy":
			if v != "delete" {
				return cfg, fmt.Errorf("cleanup.policy=%s is not supported yet (only delete)", v)
			}
			continue
		case "unclean.leader.election.enable":
			if _, err := strconv.ParseBool(v); err != nil {
				return cfg, fmt.Errorf("unclean.leader.election.enable must be true or false, not %q", v)
			}
			continue
		case "message.timestamp.type":
			if v != "CreateTime" && v != "LogAppendTime" {
				return cfg, fmt.Errorf("message.timestamp.type must be CreateTime or LogAppendTime, not %q", v)
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("%s=%q is not a number", k, v)
		}
		switch k {
		case "retention.ms":
			cfg.RetentionMs = n
		case "retention.bytes":
			cfg.RetentionBytes = n
		case "segment.bytes":
			if n < 14 {
				return cfg, fmt.Errorf("segment.bytes=%d is below Kafka's minimum 14", n)
			}
			cfg.SegmentBytes = n
		case "segment.ms":
			if n < 1 {
				return cfg, fmt.Errorf("segment.ms must be ≥ 1")
			}
			cfg.SegmentMs = n
		case "flush.messages":
			cfg.FlushMessages = n
		case "flush.ms":
			cfg.FlushMs = n
		case "index.interval.bytes":
			cfg.IndexIntervalBytes = n
		case "segment.index.bytes":
			cfg.SegmentIndexBytes = n
		case "min.insync.replicas":
			if n < 1 {
				return cfg, fmt.Errorf("min.insync.replicas must be ≥ 1")
			}
		case "max.message.bytes":
			if n < 0 || n > 1<<31-1 {
				return cfg, fmt.Errorf("max.message.bytes=%d out of range", n)
			}
		}
	}
	return cfg, nil
}

func (b *Broker) maxMessageBytes(configs map[string]string) int32 {
	if v, ok := configs["max.message.bytes"]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(n)
		}
	}
	return b.cfg.MessageMaxBytes
}
