package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Workload is one benchmark scenario, read from YAML. Field names follow the
// OpenMessaging Benchmark where it has one, so its workload files load as is;
// the Kafka producer settings (acks, idempotence, compression, lingerMs,
// batchBytes) live here rather than in a separate driver file because they
// are what we compare.
type Workload struct {
	Name string `yaml:"name"`

	Topics             int `yaml:"topics"`
	PartitionsPerTopic int `yaml:"partitionsPerTopic"`
	// ReplicationFactor 0 asks the broker for its default.
	ReplicationFactor int `yaml:"replicationFactor"`

	// MessageSize is the record value's size in bytes, header included. With
	// PayloadFile and no MessageSize, the file's size is used.
	MessageSize int `yaml:"messageSize"`
	// PayloadFile supplies the value's bytes after the header (repeated if
	// shorter than MessageSize). A relative path is relative to the workload
	// file.
	PayloadFile string `yaml:"payloadFile"`
	// RandomBytesRatio is the fraction of the padding that is random; the
	// rest is zeros. Unset means 1: incompressible values, so compression
	// settings cannot flatter a result by accident.
	RandomBytesRatio *float64 `yaml:"randomBytesRatio"`

	ProducersPerTopic int `yaml:"producersPerTopic"`
	// SubscriptionsPerTopic is the number of consumer groups reading each
	// topic; every group must read every acknowledged record. Unset means 1.
	SubscriptionsPerTopic int `yaml:"subscriptionsPerTopic"`
	// ConsumerPerSubscription 0 runs producers only.
	ConsumerPerSubscription int `yaml:"consumerPerSubscription"`
	// ConsumerAssignment is how a subscription's consumers get their
	// partitions: "group" (unset: a Kafka consumer group per subscription,
	// partitions assigned by the group protocol) or "direct" (no group: the
	// subscription's partitions are dealt round robin to its members, each
	// reading its share from offset 0 with kgo.ConsumePartitions). Direct
	// needs nothing of the broker but Metadata, ListOffsets and Fetch, so it
	// measures a broker without group coordination.
	ConsumerAssignment string `yaml:"consumerAssignment"`
	// ProducerRate is the total target in records/s across all producers;
	// 0 produces as fast as the client can.
	ProducerRate int `yaml:"producerRate"`

	Acks Acks `yaml:"acks"`
	// Idempotence unset means Kafka's default: on exactly when acks=all.
	Idempotence *bool  `yaml:"idempotence"`
	Compression string `yaml:"compression"`
	LingerMs    int    `yaml:"lingerMs"`
	// BatchBytes 0 keeps the client's default (1 MiB in franz-go).
	BatchBytes int `yaml:"batchBytes"`

	WarmupDuration time.Duration `yaml:"warmupDuration"`
	TestDuration   time.Duration `yaml:"testDuration"`
	// DrainTimeout bounds how long consumers may take, after producers stop,
	// to read everything the broker holds. Unset means defaultDrainTimeout.
	DrainTimeout time.Duration `yaml:"drainTimeout"`

	// OMB compatibility: durations in whole minutes, used when the
	// duration fields above are unset.
	TestDurationMinutes   int `yaml:"testDurationMinutes"`
	WarmupDurationMinutes int `yaml:"warmupDurationMinutes"`
	// KeyDistributor: only OMB's NO_KEY (records without keys, spread by the
	// client's sticky partitioner) is implemented.
	KeyDistributor string `yaml:"keyDistributor"`
	// ConsumerBacklogSizeGB: only 0 (no backlog phase) is implemented.
	ConsumerBacklogSizeGB int `yaml:"consumerBacklogSizeGB"`

	// padding is the value template after the header, resolved by Validate
	// from PayloadFile or RandomBytesRatio. Unexported: not part of the YAML.
	padding []byte
}

// Acks is the producer's required acknowledgement: "0", "1" or "all".
// YAML's `acks: 1` and `acks: "1"` both decode; "-1" means "all".
type Acks string

// UnmarshalYAML takes the scalar's text whatever YAML type it resolved to.
func (a *Acks) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: acks must be 0, 1 or all", n.Line)
	}
	*a = Acks(n.Value)
	return nil
}

const (
	// headerBytes is the fixed header at the start of every value (value.go).
	headerBytes = 24
	// messageSizeMax is Kafka's default message.max.bytes less batch
	// overhead; a larger record would be refused by a default broker.
	messageSizeMax = 1_000_000
	// defaultDrainTimeout bounds the drain when the workload does not.
	defaultDrainTimeout = 30 * time.Second
	// testDurationMax keeps a typo (testDuration: 10h) from becoming a
	// day-long run whose operation log outgrows memory (~50 bytes a record).
	testDurationMax = time.Hour
	// partitionsMax and clientsMax bound what a workload can ask of this
	// one machine.
	partitionsMax = 100_000
	clientsMax    = 1_000
)

// LoadWorkload reads and validates a workload file.
func LoadWorkload(path string) (*Workload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	w, err := ParseWorkload(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("workload %s: %w", path, err)
	}
	return w, nil
}

// ParseWorkload decodes and validates YAML. Unknown fields are errors: a
// misspelt "partitionPerTopic" must not silently run with defaults. dir
// resolves a relative payloadFile.
func ParseWorkload(b []byte, dir string) (*Workload, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var w Workload
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if w.PayloadFile != "" && !filepath.IsAbs(w.PayloadFile) && dir != "" {
		w.PayloadFile = filepath.Join(dir, w.PayloadFile)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return &w, nil
}

// Validate fills defaults and reports every problem at once, each naming
// the field and the value it got.
func (w *Workload) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if strings.TrimSpace(w.Name) == "" {
		bad("name is required")
	}
	if w.Topics < 1 {
		bad("topics must be at least 1, got %d", w.Topics)
	}
	if w.PartitionsPerTopic < 1 {
		bad("partitionsPerTopic must be at least 1, got %d", w.PartitionsPerTopic)
	}
	if w.Topics >= 1 && w.PartitionsPerTopic >= 1 && w.Topics*w.PartitionsPerTopic > partitionsMax {
		bad("topics × partitionsPerTopic must be at most %d, got %d", partitionsMax, w.Topics*w.PartitionsPerTopic)
	}
	if w.ReplicationFactor < 0 || w.ReplicationFactor > 32767 {
		bad("replicationFactor must be 0 (broker default) or positive, got %d", w.ReplicationFactor)
	}

	// The payload before the size check: a payload file may supply the size.
	if w.RandomBytesRatio == nil {
		one := 1.0
		w.RandomBytesRatio = &one
	}
	if r := *w.RandomBytesRatio; r < 0 || r > 1 {
		bad("randomBytesRatio must be within [0, 1], got %g", r)
	}
	var payload []byte
	if w.PayloadFile != "" {
		b, err := os.ReadFile(w.PayloadFile)
		switch {
		case err != nil:
			bad("payloadFile: %w", err)
		case len(b) == 0:
			bad("payloadFile %s is empty", w.PayloadFile)
		default:
			payload = b
			if w.MessageSize == 0 {
				w.MessageSize = len(b)
			}
		}
	}
	if w.MessageSize < headerBytes || w.MessageSize > messageSizeMax {
		bad("messageSize must be within [%d, %d] bytes (the first %d carry producer, sequence and send time), got %d",
			headerBytes, messageSizeMax, headerBytes, w.MessageSize)
	}

	if w.ProducersPerTopic < 1 {
		bad("producersPerTopic must be at least 1, got %d", w.ProducersPerTopic)
	}
	if w.SubscriptionsPerTopic == 0 {
		w.SubscriptionsPerTopic = 1
	}
	if w.SubscriptionsPerTopic < 0 {
		bad("subscriptionsPerTopic must be at least 1, got %d", w.SubscriptionsPerTopic)
	}
	if w.ConsumerPerSubscription < 0 {
		bad("consumerPerSubscription must be 0 (no consumers) or more, got %d", w.ConsumerPerSubscription)
	}
	switch w.ConsumerAssignment {
	case "":
		w.ConsumerAssignment = AssignGroup
	case AssignGroup:
	case AssignDirect:
		if w.ConsumerPerSubscription > w.PartitionsPerTopic && w.PartitionsPerTopic >= 1 {
			bad("consumerAssignment direct deals partitions to consumers: consumerPerSubscription (%d) must be at most partitionsPerTopic (%d)",
				w.ConsumerPerSubscription, w.PartitionsPerTopic)
		}
	default:
		bad("consumerAssignment must be %s or %s, got %q", AssignGroup, AssignDirect, w.ConsumerAssignment)
	}
	if n := w.Topics * (w.ProducersPerTopic + w.SubscriptionsPerTopic*w.ConsumerPerSubscription); n > clientsMax {
		bad("the workload needs %d clients; at most %d fit one machine", n, clientsMax)
	}
	if w.ProducerRate < 0 {
		bad("producerRate must be 0 (as fast as possible) or positive, got %d", w.ProducerRate)
	}

	switch w.Acks {
	case "":
		w.Acks = "all"
	case "-1":
		w.Acks = "all"
	case "0", "1", "all":
	default:
		bad("acks must be 0, 1 or all, got %q", string(w.Acks))
	}
	if w.Idempotence == nil {
		on := w.Acks == "all"
		w.Idempotence = &on
	} else if *w.Idempotence && w.Acks != "all" {
		// Kafka's rule too: the idempotent producer needs every in-sync
		// replica's acknowledgement to know what was written.
		bad("idempotence requires acks: all, got acks: %s", w.Acks)
	}
	switch w.Compression {
	case "":
		w.Compression = "none"
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("compression must be none, gzip, snappy, lz4 or zstd, got %q", w.Compression)
	}
	if w.LingerMs < 0 || w.LingerMs > 60_000 {
		bad("lingerMs must be within [0, 60000], got %d", w.LingerMs)
	}
	if w.BatchBytes != 0 && (w.BatchBytes < w.MessageSize || w.BatchBytes > 64<<20) {
		bad("batchBytes must be 0 (client default) or within [messageSize=%d, 64 MiB], got %d", w.MessageSize, w.BatchBytes)
	}

	if w.TestDuration == 0 && w.TestDurationMinutes > 0 {
		w.TestDuration = time.Duration(w.TestDurationMinutes) * time.Minute
	}
	if w.WarmupDuration == 0 && w.WarmupDurationMinutes > 0 {
		w.WarmupDuration = time.Duration(w.WarmupDurationMinutes) * time.Minute
	}
	if w.TestDuration <= 0 || w.TestDuration > testDurationMax {
		bad("testDuration must be within (0, %s], got %s", testDurationMax, w.TestDuration)
	}
	if w.WarmupDuration < 0 || w.WarmupDuration > testDurationMax {
		bad("warmupDuration must be within [0, %s], got %s", testDurationMax, w.WarmupDuration)
	}
	if w.DrainTimeout == 0 {
		w.DrainTimeout = defaultDrainTimeout
	}
	if w.DrainTimeout < 0 || w.DrainTimeout > testDurationMax {
		bad("drainTimeout must be within (0, %s], got %s", testDurationMax, w.DrainTimeout)
	}

	if w.KeyDistributor != "" && w.KeyDistributor != "NO_KEY" {
		bad("keyDistributor %q is not implemented; only NO_KEY", w.KeyDistributor)
	}
	if w.ConsumerBacklogSizeGB != 0 {
		bad("consumerBacklogSizeGB is not implemented; it must be 0, got %d", w.ConsumerBacklogSizeGB)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	w.padding = makePadding(w.MessageSize-headerBytes, payload, *w.RandomBytesRatio)
	return nil
}

// Consumer assignments (Workload.ConsumerAssignment).
const (
	AssignGroup  = "group"
	AssignDirect = "direct"
)

// Consumers reports whether the workload reads what it writes.
func (w *Workload) Consumers() bool { return w.ConsumerPerSubscription > 0 }
