package broker

// CreateTopics: v0-7. Replication factor above 1 is INVALID_REPLICATION_FACTOR on a single broker;
// explicit replica assignments are accepted only when they name this node alone. Unknown configs
// and cleanup.policy=compact are INVALID_CONFIG with a message saying why. With a Raft controller
// attached the request goes through it instead (ControllerLink.createTopics).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(19, 0, 7, offLoop(handleCreateTopics)) }

// maxPartitionsPerTopic bounds one request's disk work (each partition is a directory and two
// preallocated index files).
const maxPartitionsPerTopic = 10000

func handleCreateTopics(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.CreateTopicsRequest)
	if l := b.link.Load(); l != nil {
		return l.createTopics(r) // placement by the Raft controller (controller.go)
	}
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rt := range r.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(code int16, msg string) {
			st.ErrorCode = code
			st.ErrorMessage = strPtr(msg)
		}
		partitions, rf := rt.NumPartitions, rt.ReplicationFactor
		if len(rt.ReplicaAssignment) > 0 {
			partitions, rf = int32(len(rt.ReplicaAssignment)), int16(len(rt.ReplicaAssignment[0].Replicas))
		}
		if partitions == -1 {
			partitions = b.cfg.NumPartitions
		}
		if rf == -1 {
			rf = b.cfg.DefaultReplicationFactor
		}
		configs := map[string]string{}
		for _, c := range rt.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		_, cfgErr := topicLogConfig(b.cfg.LogDefaults, configs)
		switch {
		case !validTopicName(rt.Topic):
			fail(errInvalidTopic, fmt.Sprintf("topic name %q is illegal: use 1-249 of [a-zA-Z0-9._-]", rt.Topic))
		case b.topics[rt.Topic] != nil:
			fail(errTopicAlreadyExists, fmt.Sprintf("topic %q already exists", rt.Topic))
		case partitions <= 0 || partitions > maxPartitionsPerTopic:
			fail(errInvalidPartitions, fmt.Sprintf("number of partitions must be 1-%d, not %d", maxPartitionsPerTopic, partitions))
		case rf != 1:
			fail(errInvalidReplicationFactor, fmt.Sprintf("replication factor %d: this cluster has 1 broker", rf))
		case cfgErr != nil:
			fail(errInvalidConfig, cfgErr.Error())
		case r.ValidateOnly:
		default:
			if _, err := b.createTopicLocked(rt.Topic, partitions, configs); err != nil {
				fail(errKafkaStorage, err.Error())
			} else {
				b.logger.Info("created topic", "topic", rt.Topic, "partitions", partitions)
			}
		}
		if st.ErrorCode == errNone {
			st.NumPartitions, st.ReplicationFactor = partitions, rf
			if t := b.topics[rt.Topic]; t != nil {
				st.TopicID = t.id
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
