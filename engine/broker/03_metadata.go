package broker

// Metadata: v0-12 (kafka-python probes with v0, where an empty topic list means all topics).
// Brokers: this one and its peers (SetPeers). A partition never assigned has this broker as its
// leader and only replica at leader epoch 0; a replicated one answers its assignment as this
// broker knows it (leader, leader epoch, replicas, ISR), LEADER_NOT_AVAILABLE when it has no
// leader. The controller id is this broker. With a Raft controller attached (AttachController),
// Metadata is answered from its image instead (controller.go): every registered unfenced broker,
// each partition's leader, leader epoch, replicas and ISR, fenced replicas as offline; an
// auto-created topic is created through the controller in the background and answered
// LEADER_NOT_AVAILABLE meanwhile (INVALID_REPLICATION_FACTOR when default.replication.factor
// exceeds the live brokers), as Kafka answers.
// Topic ids are returned from v10; the APIs that name topics by id are not advertised yet.
// Auto-creation follows auto.create.topics.enable and, from v4, the request's
// AllowAutoTopicCreation.

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(3, 0, 12, simple(handleMetadata)) }

const clusterID = "sluice-single-node"

func handleMetadata(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.MetadataRequest)
	if l := b.link.Load(); l != nil {
		return l.clusterMetadata(r) // the controller's image (controller.go)
	}
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	br := kmsg.NewMetadataResponseBroker()
	adv := b.advertised.Load()
	br.NodeID, br.Host, br.Port = b.cfg.NodeID, adv.host, adv.port
	resp.Brokers = []kmsg.MetadataResponseBroker{br}
	for _, peer := range b.peerList() {
		pb := kmsg.NewMetadataResponseBroker()
		pb.NodeID, pb.Host, pb.Port = peer.NodeID, peer.Host, peer.Port
		if peer.Rack != "" {
			pb.Rack = strPtr(peer.Rack)
		}
		resp.Brokers = append(resp.Brokers, pb)
	}
	resp.ClusterID = strPtr(clusterID)
	resp.ControllerID = b.cfg.NodeID

	var names []string
	if r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0) {
		for name := range *b.topicsView.Load() {
			names = append(names, name)
		}
		sort.Strings(names)
	} else {
		for _, t := range r.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	allowAuto := b.cfg.AutoCreateTopics && (r.Version < 4 || r.AllowAutoTopicCreation)
	for _, name := range names {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = strPtr(name)
		t := b.lookupTopic(name)
		if t == nil && allowAuto && validTopicName(name) {
			t, _ = b.autoCreate(name)
		}
		switch {
		case t == nil && !validTopicName(name):
			mt.ErrorCode = errInvalidTopic
		case t == nil:
			mt.ErrorCode = errUnknownTopicOrPartition
		default:
			mt.TopicID = t.id
			for _, p := range t.partitions {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition = p.index
				mp.Leader = b.cfg.NodeID
				mp.LeaderEpoch = 0
				mp.Replicas = []int32{b.cfg.NodeID}
				mp.ISR = []int32{b.cfg.NodeID}
				if rp := p.replica.Load(); rp != nil {
					v := rp.View()
					mp.Leader, mp.LeaderEpoch, mp.Replicas, mp.ISR = v.Leader, v.LeaderEpoch, v.Replicas, v.ISR
					if v.Leader == replica.NoLeader {
						mp.ErrorCode = errLeaderNotAvailable
					}
				}
				mt.Partitions = append(mt.Partitions, mp)
			}
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// autoCreate creates a topic with the broker defaults (auto.create.topics.enable).
func (b *Broker) autoCreate(name string) (*topic, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.topics[name]; t != nil {
		return t, nil
	}
	t, err := b.createTopicLocked(name, b.cfg.NumPartitions, map[string]string{})
	if err != nil {
		b.logger.Warn("auto-create topic failed", "topic", name, "err", err)
		return nil, err
	}
	b.logger.Info("auto-created topic", "topic", name, "partitions", b.cfg.NumPartitions)
	return t, nil
}
