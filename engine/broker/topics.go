package broker

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/internal/fsutil"
)

// topicsFile holds the topic list, configs and ids, and the next producer id, in log.dirs. It is
// rewritten atomically on every change (Kafka keeps this in KRaft; engine/meta will take it over).
const topicsFile = "__sluice_topics.json"

type topic struct {
	name    string
	id      [16]byte
	configs map[string]string // explicitly set topic configs (Kafka names)
	// controlled: created from the Raft controller's image, so removed when the image no longer
	// holds it (a single node's topics, kept in a data directory started in a cluster, are not).
	controlled bool
	partitions []*partition
	metrics    *topicMetrics // shared by the copies CreatePartitions publishes
}

// partition is one partition this broker holds: its log, producer state and replication state.
type partition struct {
	topic *topic
	index int32
	log   *log.Log

	mu        sync.Mutex // serializes produce (idempotence check + append) on this partition
	producers map[int64]*producerState

	maxMessageBytes atomic.Int32
	logAppendTime   atomic.Bool // message.timestamp.type=LogAppendTime

	// replica is the partition's replication state once an assignment names it
	// (SetPartitionState); nil means what it always meant: this node is the only replica and
	// the leader at epoch 0. Once set it stays. stateMu serializes assignments.
	replica atomic.Pointer[replica.Partition]
	stateMu sync.Mutex
}

type topicsState struct {
	Topics         []topicRecord `json:"topics"`
	NextProducerID int64         `json:"next_producer_id"` // the first id not reserved: none below it is handed out again
}

type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Controlled bool              `json:"controlled,omitempty"`
}

func partitionDir(root, topic string, p int32) string {
	return filepath.Join(root, topic+"-"+strconv.Itoa(int(p)))
}

func newTopicID() [16]byte {
	var id [16]byte
	rand.Read(id[:])
	return id
}

// openPartition opens (or creates) a partition's log.
func (b *Broker) openPartition(t *topic, p int32, cfg log.Config) (*partition, error) {
	if t.name == offsetsTopic {
		// Group state keeps Kafka's write path whatever log.write.mode says: its appends are few
		// and small, and its applier follows the high watermark.
		cfg.WriteMode = log.WriteBuffered
	}
	l, err := log.Open(partitionDir(b.cfg.LogDir, t.name, p), cfg)
	if err != nil {
		return nil, err
	}
	if cfg.WriteMode == log.WriteDirect {
		// Parked fetches and acks=all answers wait for what the writer publishes.
		l.SetWrittenHook(b.notifyAppend)
		if !l.DirectIO() {
			b.logger.Warn("log.write.mode=direct: the file system refuses O_DIRECT; writing behind through the page cache",
				"topic", t.name, "partition", p)
		}
	}
	if n := l.RingReplayedOnOpen(); n > 0 {
		b.logger.Info("wrote a killed run's answered, unwritten appends from the write-behind ring into the log",
			"topic", t.name, "partition", p, "bytes", n, "log_end_offset", l.LogEndOffset())
	}
	if n := l.CommittedLostOnOpen(); n > 0 {
		b.logger.Error("log recovery lost committed records: a replica holding them must lead", "topic", t.name, "partition", p,
			"records", n, "log_end_offset", l.LogEndOffset())
	}
	if !b.cfg.Cluster {
		l.SetHighWatermark(l.LogEndOffset()) // a single replica: everything stored is committed
	}
	pt := &partition{topic: t, index: p, log: l, producers: map[int64]*producerState{}}
	if err := pt.loadProducerState(); err != nil {
		l.Close()
		return nil, fmt.Errorf("producer state: %w", err)
	}
	pt.maxMessageBytes.Store(b.maxMessageBytes(t.configs))
	pt.logAppendTime.Store(t.configs["message.timestamp.type"] == "LogAppendTime")
	return pt, nil
}

// loadTopics opens every topic recorded in the topics file.
func (b *Broker) loadTopics() error {
	raw, err := os.ReadFile(filepath.Join(b.cfg.LogDir, topicsFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var st topicsState
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("%s: %w", topicsFile, err)
	}
	b.nextProducerID, b.producerIDLimit = st.NextProducerID, st.NextProducerID
	for _, tr := range st.Topics {
		t := &topic{name: tr.Name, configs: tr.Configs, controlled: tr.Controlled, metrics: new(topicMetrics)}
		if t.configs == nil {
			t.configs = map[string]string{}
		}
		if id, err := parseUUID(tr.ID); err == nil {
			t.id = id
		} else {
			t.id = newTopicID()
		}
		cfg, err := topicLogConfig(b.cfg.LogDefaults, t.configs)
		if err != nil {
			return fmt.Errorf("topic %s: %w", t.name, err)
		}
		for p := int32(0); p < tr.Partitions; p++ {
			pt, err := b.openPartition(t, p, cfg)
			if err != nil {
				return fmt.Errorf("topic %s partition %d: %w", t.name, p, err)
			}
			t.partitions = append(t.partitions, pt)
		}
		b.topics[t.name] = t
	}
	return nil
}

// saveTopicsLocked rewrites the topics file. Caller holds b.mu.
func (b *Broker) saveTopicsLocked() error {
	st := topicsState{NextProducerID: b.producerIDLimit}
	for _, t := range b.topics {
		st.Topics = append(st.Topics, topicRecord{Name: t.name, ID: formatUUID(t.id), Partitions: int32(len(t.partitions)), Configs: t.configs, Controlled: t.controlled})
	}
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(b.cfg.LogDir, topicsFile), raw)
}

// writeFileAtomic is fsutil.WriteFileAtomic (temp file, fsync, rename, directory fsync).
var writeFileAtomic = fsutil.WriteFileAtomic

// createTopicLocked creates a topic's partitions on disk and records it. Caller holds b.mu.
func (b *Broker) createTopicLocked(name string, partitions int32, configs map[string]string) (*topic, error) {
	return b.createTopicWithIDLocked(name, newTopicID(), partitions, configs)
}

// createTopicWithIDLocked is createTopicLocked with the topic id given (the controller's, in a
// cluster, so every broker names the topic by the same id). Caller holds b.mu.
func (b *Broker) createTopicWithIDLocked(name string, id [16]byte, partitions int32, configs map[string]string) (*topic, error) {
	cfg, err := topicLogConfig(b.cfg.LogDefaults, configs)
	if err != nil {
		return nil, err
	}
	t := &topic{name: name, id: id, configs: configs, metrics: new(topicMetrics)}
	for p := int32(0); p < partitions; p++ {
		pt, err := b.openPartition(t, p, cfg)
		if err != nil {
			for _, done := range t.partitions {
				done.log.Close()
				os.RemoveAll(done.log.Dir())
			}
			return nil, err
		}
		t.partitions = append(t.partitions, pt)
	}
	b.topics[name] = t
	b.publishTopicsLocked()
	return t, b.saveTopicsLocked()
}

// publishTopicsLocked makes the current topic map visible to lock-free readers.
func (b *Broker) publishTopicsLocked() {
	m := make(map[string]*topic, len(b.topics))
	for k, v := range b.topics {
		m[k] = v
	}
	b.topicsView.Store(&m)
}

// lookupTopic reads the published topic map (no lock; safe on event loops).
func (b *Broker) lookupTopic(name string) *topic {
	return (*b.topicsView.Load())[name]
}

func (b *Broker) lookupPartition(name string, p int32) *partition {
	t := b.lookupTopic(name)
	if t == nil || p < 0 || int(p) >= len(t.partitions) {
		return nil
	}
	return t.partitions[p]
}

func formatUUID(id [16]byte) string { return fmt.Sprintf("%x", id[:]) }

func parseUUID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 32 {
		return id, fmt.Errorf("bad id %q", s)
	}
	for i := range id {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return id, err
		}
		id[i] = byte(v)
	}
	return id, nil
}

// validTopicName applies Kafka's rules: 1–249 characters of [a-zA-Z0-9._-], not "." or "..".
func validTopicName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
