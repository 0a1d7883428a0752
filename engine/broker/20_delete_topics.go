package broker

// DeleteTopics: v0-5 (topics by name). Logs close and their directories are removed at once;
// in-flight fetches keep reading the unlinked files they pinned.

import (
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(20, 0, 5, offLoop(handleDeleteTopics)) }

func handleDeleteTopics(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	names := r.TopicNames
	for _, t := range r.Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	if b.link.Load() != nil {
		// Cluster mode: a topic is deleted through the controller (a DeleteTopic record every
		// broker applies), which is not wired yet; deleting it here alone would diverge.
		for _, name := range names {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic = strPtr(name)
			st.ErrorCode = errInvalidRequest
			st.ErrorMessage = strPtr("deleting topics in a cluster is not supported yet")
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range names {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic = strPtr(name)
		t := b.topics[name]
		if t == nil {
			st.ErrorCode = errUnknownTopicOrPartition
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.id
		delete(b.topics, name)
		b.publishTopicsLocked()
		for _, p := range t.partitions {
			b.unfollow(p, -1) // a follower's fetcher stops copying it
			p.log.Close()
			os.RemoveAll(p.log.Dir())
		}
		if err := b.saveTopicsLocked(); err != nil {
			st.ErrorCode = errKafkaStorage
			st.ErrorMessage = strPtr(err.Error())
		}
		b.groups.TopicDeleted(name) // every group's committed offsets for it go too
		b.logger.Info("deleted topic", "topic", name)
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
