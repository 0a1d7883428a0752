package broker

// Replication metrics, per broker, under the names Kafka operators alert on (ReplicaManager's
// UnderReplicatedPartitions, PartitionCount, LeaderCount, IsrShrinksPerSec, IsrExpandsPerSec,
// UnderMinIsrPartitionCount; the controller's ActiveControllerCount and OfflinePartitionsCount).
//
// The gauges are computed at scrape time from each partition's replica state (one mutex-guarded
// snapshot per partition this broker leads, none for the others) and, for offline partitions, the
// controller's metadata image; nothing is kept up to date on the request path. The ISR counters are
// atomics incremented where a leader applies a committed ISR change (countISRChange, called by
// SetPartitionState), which is where Kafka counts them too: after AlterPartition commits, on the
// leader.

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/replica"
)

var (
	descUnderReplicated = prometheus.NewDesc("sluice_replica_under_replicated_partitions",
		"Partitions this broker leads whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).", nil, nil)
	descUnderMinISR = prometheus.NewDesc("sluice_replica_under_min_isr_partitions",
		"Partitions this broker leads whose ISR is below min.insync.replicas (Kafka's UnderMinIsrPartitionCount).", nil, nil)
	descLeaderPartitions = prometheus.NewDesc("sluice_replica_leader_partitions",
		"Partitions this broker leads (Kafka's LeaderCount).", nil, nil)
	descPartitions = prometheus.NewDesc("sluice_replica_partitions",
		"Partitions with a replica on this broker (Kafka's PartitionCount).", nil, nil)
	descISRShrinks = prometheus.NewDesc("sluice_replica_isr_shrinks_total",
		"ISR changes applied on this broker as leader that removed a replica (Kafka's IsrShrinksPerSec).", nil, nil)
	descISRExpands = prometheus.NewDesc("sluice_replica_isr_expands_total",
		"ISR changes applied on this broker as leader that added a replica (Kafka's IsrExpandsPerSec).", nil, nil)
	descActiveController = prometheus.NewDesc("sluice_controller_active",
		"1 on the active controller, 0 elsewhere (Kafka's ActiveControllerCount).", nil, nil)
	descOfflinePartitions = prometheus.NewDesc("sluice_controller_offline_partitions",
		"On the active controller, partitions without a leader; 0 elsewhere (Kafka's OfflinePartitionsCount).", nil, nil)
	descFollowerLag = prometheus.NewDesc("sluice_replica_follower_lag_records",
		"On the leader, per follower: the leader's log end offset minus the follower's (-1: not heard from since this broker became leader).",
		[]string{"topic", "partition", "follower"}, nil)
)

func describeReplication(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUnderReplicated, descUnderMinISR, descLeaderPartitions, descPartitions,
		descISRShrinks, descISRExpands, descActiveController, descOfflinePartitions, descFollowerLag} {
		ch <- d
	}
}

// countISRChange counts a committed ISR change this broker applies as the partition's leader in
// the same leader epoch: a shrink when a member left, an expand when one joined (one change may be
// both). prev is the view before the change.
func (b *Broker) countISRChange(prev *replica.View, next replica.Assignment) {
	if prev.Role != replica.RoleLeader || next.Leader != b.cfg.NodeID || prev.LeaderEpoch != next.LeaderEpoch {
		return
	}
	for _, id := range prev.ISR {
		if !slices.Contains(next.ISR, id) {
			b.repl.isrShrinks.Add(1)
			break
		}
	}
	for _, id := range next.ISR {
		if !slices.Contains(prev.ISR, id) {
			b.repl.isrExpands.Add(1)
			break
		}
	}
}

// replicationCounts are the scrape-time gauges.
type replicationCounts struct {
	partitions, leaders, underReplicated, underMinISR int
}

// replicationCounts walks the partitions. A partition never assigned (a single node, or before the
// controller's first assignment) has this broker as its only replica and leader: it counts as a
// partition and a leadership, in sync. For every partition it leads it sends each follower's lag
// to ch.
func (b *Broker) replicationCounts(ch chan<- prometheus.Metric) replicationCounts {
	var c replicationCounts
	for name, t := range *b.topicsView.Load() {
		for _, p := range t.partitions {
			rp := p.replica.Load()
			if rp == nil {
				c.partitions++
				c.leaders++
				continue
			}
			v := rp.View()
			switch v.Role {
			case replica.RoleNone:
				continue
			case replica.RoleFollower:
				c.partitions++
				continue
			}
			c.partitions++
			c.leaders++
			if len(v.ISR) < len(v.Replicas) {
				c.underReplicated++
			}
			if int32(len(v.ISR)) < rp.Config().MinInsyncReplicas {
				c.underMinISR++
			}
			leo := p.log.LogEndOffset()
			part := strconv.Itoa(int(p.index))
			for _, f := range rp.Status().Followers {
				lag := int64(-1)
				if f.LogEndOffset >= 0 {
					lag = max(leo-f.LogEndOffset, 0)
				}
				ch <- prometheus.MustNewConstMetric(descFollowerLag, prometheus.GaugeValue, float64(lag), name, part, strconv.Itoa(int(f.ID)))
			}
		}
	}
	return c
}

// controllerCounts are ActiveControllerCount and OfflinePartitionsCount. A broker outside cluster
// mode decides everything itself: it is its own active controller, and none of its partitions can
// be without a leader.
func (b *Broker) controllerCounts() (active, offline int) {
	if !b.cfg.Cluster {
		return 1, 0
	}
	l := b.link.Load()
	if l == nil || !l.c.IsActive() {
		return 0, 0
	}
	img := l.Image()
	for _, name := range img.TopicNames() {
		for _, p := range img.Topic(name).Partitions {
			if p.Leader == meta.NoLeader {
				offline++
			}
		}
	}
	return 1, offline
}

func (b *Broker) collectReplication(ch chan<- prometheus.Metric) {
	c := b.replicationCounts(ch)
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descUnderReplicated, c.underReplicated)
	gauge(descUnderMinISR, c.underMinISR)
	gauge(descLeaderPartitions, c.leaders)
	gauge(descPartitions, c.partitions)
	ch <- prometheus.MustNewConstMetric(descISRShrinks, prometheus.CounterValue, float64(b.repl.isrShrinks.Load()))
	ch <- prometheus.MustNewConstMetric(descISRExpands, prometheus.CounterValue, float64(b.repl.isrExpands.Load()))
	active, offline := b.controllerCounts()
	gauge(descActiveController, active)
	gauge(descOfflinePartitions, offline)
}
