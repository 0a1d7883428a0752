package broker

// DeleteTopics: v0-6 (v6 names topics by name or by topic ID). Logs close and their directories
// are removed at once; in-flight fetches keep reading the unlinked files they pinned. An unknown
// name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID. With a Raft controller
// attached the topic is deleted through it (ControllerLink.deleteTopics: a DeleteTopic record
// that every broker applies by removing its copy).

import (
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(20, 0, 6, offLoop(handleDeleteTopics)) }

// deleteTarget is one topic a DeleteTopics request names: by name, or (v6) by id when name is "".
type deleteTarget struct {
	name string
	id   [16]byte
}

func deleteTargets(r *kmsg.DeleteTopicsRequest) []deleteTarget {
	out := make([]deleteTarget, 0, len(r.TopicNames)+len(r.Topics))
	for _, name := range r.TopicNames {
		out = append(out, deleteTarget{name: name})
	}
	for _, t := range r.Topics {
		if t.Topic != nil && *t.Topic != "" {
			out = append(out, deleteTarget{name: *t.Topic})
		} else {
			out = append(out, deleteTarget{id: t.TopicID})
		}
	}
	return out
}

// unknownTopicResult answers a target naming no topic.
func unknownTopicResult(st *kmsg.DeleteTopicsResponseTopic, dt deleteTarget) {
	if dt.name == "" {
		st.TopicID, st.ErrorCode = dt.id, errUnknownTopicID
		return
	}
	st.Topic, st.ErrorCode = strPtr(dt.name), errUnknownTopicOrPartition
}

func handleDeleteTopics(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.DeleteTopicsRequest)
	if l := b.link.Load(); l != nil {
		return l.deleteTopics(r) // through the Raft controller (controller_ops.go)
	}
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, dt := range deleteTargets(r) {
		st := kmsg.NewDeleteTopicsResponseTopic()
		t := b.topics[dt.name]
		if dt.name == "" {
			t = b.topicByIDLocked(dt.id)
		}
		if t == nil {
			unknownTopicResult(&st, dt)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.Topic, st.TopicID = strPtr(t.name), t.id
		if err := b.removeTopicLocked(t); err != nil {
			st.ErrorCode = errKafkaStorage
			st.ErrorMessage = strPtr(err.Error())
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// topicByIDLocked finds a topic by id. Caller holds b.mu.
func (b *Broker) topicByIDLocked(id [16]byte) *topic {
	for _, t := range b.topics {
		if t.id == id {
			return t
		}
	}
	return nil
}

// removeTopicLocked stops serving t and deletes its logs: followers stop copying it, each log
// closes under its partition lock (so no append is half done) and its directory goes, the topics
// file forgets it and every group's committed offsets for it go too. Caller holds b.mu.
func (b *Broker) removeTopicLocked(t *topic) error {
	delete(b.topics, t.name)
	b.publishTopicsLocked()
	for _, p := range t.partitions {
		b.unfollow(p, -1) // a follower's fetcher stops copying it
		p.mu.Lock()
		p.log.Close()
		p.mu.Unlock()
		os.RemoveAll(p.log.Dir())
	}
	err := b.saveTopicsLocked()
	b.groups.TopicDeleted(t.name)
	b.logger.Info("deleted topic", "topic", t.name)
	return err
}
