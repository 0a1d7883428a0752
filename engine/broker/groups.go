package broker

// The group coordinator's wiring: engine/group runs consumer groups and keeps committed offsets
// in a pebble store under log.dirs; the API files 08-16, 42 and 47 hand it their requests. On a
// single node this broker coordinates every group (FindCoordinator answers with this node); in a
// cluster it coordinates the groups of the __consumer_offsets partitions it leads
// (offsets_topic.go): every group request for another group gets NOT_COORDINATOR (the client
// finds the coordinator again), COORDINATOR_LOAD_IN_PROGRESS while its partition loads, and
// writes (OffsetCommit, SyncGroup's assignment, DeleteGroups, OffsetDelete) are answered once
// the partition's high watermark has passed them.

import (
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/netio"
)

// groupsDir is the coordinator's pebble directory in log.dirs. Partition directories end in
// "-<partition number>"; this name does not, so no topic's directory can collide with it.
const groupsDir = "__sluice_groups"

// groupConfigDefault is the group configuration of a broker whose Config.Groups is the zero value:
// Kafka's defaults. This package's tests lower its timings (groups_test.go).
var groupConfigDefault = group.DefaultConfig()

// openGroups opens the coordinator. Called by New.
func (b *Broker) openGroups() error {
	cfg := b.cfg.Groups
	if cfg == (group.Config{}) {
		cfg = groupConfigDefault
	}
	c, err := group.Open(filepath.Join(b.cfg.LogDir, groupsDir), group.Options{
		Config: cfg,
		Topics: brokerTopics{b},
		Logger: b.logger,
	})
	if err != nil {
		return err
	}
	b.groups = c
	return nil
}

// GroupConfig returns the group coordinator's configuration (group.* and offsets.* properties).
func (b *Broker) GroupConfig() group.Config { return b.groups.Config() }

// SetGroupConfig changes the group coordinator's configuration while the broker runs
// (group.min/max.session.timeout.ms, group.initial.rebalance.delay.ms, group.max.size,
// offsets.retention.minutes, offsets.retention.check.interval.ms, offset.metadata.max.bytes, and
// Sluice's Fsync for the group store).
func (b *Broker) SetGroupConfig(cfg group.Config) { b.groups.SetConfig(cfg) }

// DescribeGroup returns a group's members, assignments and, per partition, committed offset, end
// offset and lag (`sluice group describe`); Description.WriteText formats it.
func (b *Broker) DescribeGroup(name string) (group.Description, error) {
	return b.groups.Describe(name)
}

// brokerTopics is what the coordinator sees of the topics. Lock-free, like every topic lookup.
type brokerTopics struct{ b *Broker }

func (t brokerTopics) Partitions(topic string) int32 {
	if tp := t.b.lookupTopic(topic); tp != nil {
		return int32(len(tp.partitions))
	}
	return -1
}

func (t brokerTopics) HighWatermark(topic string, partition int32) int64 {
	if p := t.b.lookupPartition(topic, partition); p != nil {
		return p.log.HighWatermark()
	}
	return -1
}

// groupClient is who sent a request, as Kafka reports members: client.id, and the address as
// "/<ip>".
func groupClient(req *netio.Request) group.Client {
	host := ""
	if addr := req.Conn.RemoteAddr; addr.IsValid() {
		host = "/" + addr.Addr().Unmap().String()
	}
	return group.Client{ID: req.ClientID, Host: host}
}

// respond encodes a kmsg response and answers w with it. Safe from any goroutine.
func respond(w netio.ResponseWriter, resp kmsg.Response) {
	w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
}
