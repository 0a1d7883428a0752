package broker

// CreatePartitions: v0-3. Grows a topic to Count partitions, opening the new partitions' logs with
// the topic's configs and saving the topics file before anyone can see them; ValidateOnly checks
// without creating. A count not above the current one is INVALID_PARTITIONS (topics never shrink),
// as is one above maxPartitionsPerTopic; explicit assignments must give one list per new
// partition naming this node alone, else INVALID_REPLICA_ASSIGNMENT; an unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION and a topic named twice is INVALID_REQUEST. Same behaviour as Kafka
// on a single broker; the timeout is unused, as the partitions exist before the answer.

import (
	"fmt"
	"os"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(37, 0, 3, offLoop(handleCreatePartitions)) }

func handleCreatePartitions(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.CreatePartitionsRequest)
	if l := b.link.Load(); l != nil {
		return l.createPartitions(r) // placement by the Raft controller (controller.go)
	}
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	named := make(map[string]int, len(r.Topics))
	for _, rt := range r.Topics {
		named[rt.Topic]++
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rt := range r.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if code, msg := b.createPartitionsLocked(rt, named[rt.Topic] > 1, r.ValidateOnly); code != errNone {
			st.ErrorCode, st.ErrorMessage = code, strPtr(msg)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// createPartitionsLocked checks and applies one topic's request. Caller holds b.mu.
func (b *Broker) createPartitionsLocked(rt kmsg.CreatePartitionsRequestTopic, duplicate, validateOnly bool) (int16, string) {
	t := b.topics[rt.Topic]
	if duplicate {
		return errInvalidRequest, fmt.Sprintf("topic %q is named more than once in the request", rt.Topic)
	}
	if t == nil {
		return errUnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", rt.Topic)
	}
	have := int32(len(t.partitions))
	switch {
	case rt.Count == have:
		return errInvalidPartitions, fmt.Sprintf("topic %q already has %d partitions", rt.Topic, have)
	case rt.Count < have:
		return errInvalidPartitions, fmt.Sprintf("topic %q has %d partitions, more than the requested %d: partitions cannot be removed", rt.Topic, have, rt.Count)
	case rt.Count > maxPartitionsPerTopic:
		return errInvalidPartitions, fmt.Sprintf("number of partitions must be at most %d, not %d", maxPartitionsPerTopic, rt.Count)
	}
	if rt.Assignment != nil {
		if add := rt.Count - have; int32(len(rt.Assignment)) != add {
			return errInvalidReplicaAssignment, fmt.Sprintf("adding %d partitions needs %d assignments, not %d", add, add, len(rt.Assignment))
		}
		for i, a := range rt.Assignment {
			if !slices.Equal(a.Replicas, []int32{b.cfg.NodeID}) {
				return errInvalidReplicaAssignment, fmt.Sprintf("assignment of partition %d names replicas %v: this cluster is the single broker %d", have+int32(i), a.Replicas, b.cfg.NodeID)
			}
		}
	}
	if validateOnly {
		return errNone, ""
	}
	if err := b.growTopicLocked(t, rt.Count); err != nil {
		return errKafkaStorage, fmt.Sprintf("topic %s: %v", rt.Topic, err)
	}
	b.logger.Info("created partitions", "topic", rt.Topic, "partitions", rt.Count, "was", have)
	return errNone, ""
}

// growTopicLocked gives t count partitions. Published topics are read without a lock, so t is not
// changed: a copy holding the old partitions and the new ones replaces it, and is published only
// once the topics file records it (on failure the new logs are closed and removed). The old
// partitions keep pointing at the old *topic, which they use only for its name and its metrics
// (shared with the copy). Caller holds b.mu.
func (b *Broker) growTopicLocked(t *topic, count int32) error {
	cfg, err := topicLogConfig(b.cfg.LogDefaults, t.configs)
	if err != nil {
		return err
	}
	nt := &topic{name: t.name, id: t.id, configs: t.configs, controlled: t.controlled, metrics: t.metrics, partitions: slices.Clone(t.partitions)}
	undo := func() {
		for _, p := range nt.partitions[len(t.partitions):] {
			p.log.Close()
			os.RemoveAll(p.log.Dir())
		}
	}
	for p := int32(len(t.partitions)); p < count; p++ {
		pt, err := b.openPartition(nt, p, cfg)
		if err != nil {
			undo()
			return fmt.Errorf("partition %d: %w", p, err)
		}
		nt.partitions = append(nt.partitions, pt)
	}
	b.topics[t.name] = nt
	if err := b.saveTopicsLocked(); err != nil {
		b.topics[t.name] = t
		undo()
		return err
	}
	b.publishTopicsLocked()
	return nil
}
