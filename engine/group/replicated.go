package group

// Replicated mode: in a cluster the coordinator's records go to the internal __consumer_offsets
// topic instead of straight to the store. The broker supplies a Journal that appends them to the
// partition of the group (PartitionFor) through that partition's leader, and calls done once the
// high watermark has passed them and they are applied here. Every replica of the partition, the
// leader included, applies the partition's records up to the high watermark to its own store with
// ApplyReplicated; the leader of a partition loads that partition's groups (LoadPartition) and
// coordinates them until it loses leadership (UnloadPartition). A group whose partition this
// broker does not coordinate gets NOT_COORDINATOR; one whose partition is loading
// COORDINATOR_LOAD_IN_PROGRESS: clients look the coordinator up again, or retry.

import (
	"errors"
	"fmt"
	"unicode/utf16"
)

// Journal is where a replicated coordinator appends the records of a group. Append must not
// block on I/O nor call done before returning (it is called under the group's lock, and done
// takes that lock); done is called exactly once, after the records are replicated and applied
// to this broker's store, or with the error (an *AppendError carries the Kafka code to answer).
// One group's appends complete in append order.
type Journal interface {
	Append(group string, recs []Record, done func(error))
	// Leading reports whether the broker leads partition of the offsets topic now, as far as it
	// can tell: false once its leadership moved, and while it may have moved without the broker
	// knowing (it has not heard from the controller lately). The coordinator answers
	// NOT_COORDINATOR for the partition's groups meanwhile, even before UnloadPartition, so a
	// broker resumed after a pause never hands out offsets its successor has moved past.
	Leading(partition int32) bool
}

// AppendError is a replicated append that failed with a Kafka error code the coordinator answers
// as it is (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, REQUEST_TIMED_OUT, ...).
type AppendError struct {
	Code int16
	Err  error
}

func (e *AppendError) Error() string {
	return fmt.Sprintf("append to the offsets topic: %v (error code %d)", e.Err, e.Code)
}
func (e *AppendError) Unwrap() error { return e.Err }

// appendErrorCode is the code a write that failed with err answers.
func appendErrorCode(err error) int16 {
	var ae *AppendError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return errStorage
}

// JavaStringHashCode is Java's String.hashCode over s's UTF-16 code units (invalid UTF-8 counts as
// U+FFFD, as Java decodes it): s[0]*31^(n-1) + ... + s[n-1] in int32 arithmetic.
func JavaStringHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// PartitionFor is the partition of the internal offsets topic that holds group: Kafka's
// Utils.abs(groupId.hashCode) % offsets.topic.num.partitions, so every tool agrees on the
// coordinator.
func PartitionFor(group string, partitions int32) int32 {
	h := JavaStringHashCode(group)
	switch {
	case h == -1<<31:
		h = 0 // Kafka's Utils.abs maps Integer.MIN_VALUE to 0
	case h < 0:
		h = -h
	}
	return h % partitions
}

// Kafka records of the offsets topic. A Record travels as one Kafka record: Set as key and
// value, Delete as key and a null value (a tombstone, which compaction would understand), and
// DeleteRange, which Kafka has no counterpart for, as its start key behind the prefix
// keyPrefixRange and its end key as value.
const keyPrefixRange byte = 'r'

// KafkaRecord returns the key and value r travels as (value nil for a null value).
func KafkaRecord(r Record) (key, value []byte) {
	switch r.Type {
	case RecordSet:
		return r.Key, r.Value
	case RecordDelete:
		return r.Key, nil
	case RecordDeleteRange:
		return append([]byte{keyPrefixRange}, r.Key...), r.Value
	}
	panic(fmt.Sprintf("BUG: group: record type %d", r.Type))
}

// RecordFromKafka decodes a record of the offsets topic (KafkaRecord's inverse). Key and Value
// alias the arguments.
func RecordFromKafka(key, value []byte, valueNull bool) (Record, error) {
	var r Record
	switch {
	case len(key) > 0 && key[0] == keyPrefixRange:
		r = Record{Type: RecordDeleteRange, Key: key[1:], Value: value}
	case valueNull:
		r = Record{Type: RecordDelete, Key: key}
	default:
		r = Record{Type: RecordSet, Key: key, Value: value}
	}
	if len(r.Key) == 0 || (r.Key[0] != keyPrefixGroup && r.Key[0] != keyPrefixOffset) {
		return Record{}, fmt.Errorf("%w: offsets topic record key % x", ErrCorrupt, key)
	}
	if err := r.validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// partState is what the coordinator does with one partition of the offsets topic.
type partState uint8

const (
	partNotOwned partState = iota // another broker coordinates its groups (or none does yet)
	partLoading                   // this broker leads it and is loading its groups
	partOwned                     // this broker coordinates its groups
)

// replicatedMode is the coordinator's state in a cluster.
type replicatedMode struct {
	partitions int32
	journal    Journal
	state      map[int32]partState // guarded by Coordinator.mu
}

// Replicate switches the coordinator to replicated mode: groups are those of the partitions of
// the offsets topic (partitions of them) that LoadPartition loads, and their records go to j.
// Groups loaded so far are unloaded (their parked requests get NOT_COORDINATOR). Call once,
// before the broker leads any partition of the offsets topic.
func (c *Coordinator) Replicate(partitions int32, j Journal) {
	if partitions <= 0 {
		panic(fmt.Sprintf("BUG: group: Replicate with %d partitions", partitions))
	}
	if !c.repl.CompareAndSwap(nil, &replicatedMode{partitions: partitions, journal: j, state: map[int32]partState{}}) {
		panic("BUG: group: Replicate called twice")
	}
	c.unload(func(string) bool { return true })
}

// ownerCodeLocked is errNone if this coordinator coordinates group, NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS otherwise. Caller holds c.mu.
func (c *Coordinator) ownerCodeLocked(group string) int16 {
	r := c.repl.Load()
	if r == nil {
		return errNone
	}
	p := PartitionFor(group, r.partitions)
	switch r.state[p] {
	case partOwned:
		if !r.journal.Leading(p) {
			return errNotCoordinator // its groups may have moved on elsewhere
		}
		return errNone
	case partLoading:
		return errCoordinatorLoadInProgress
	}
	return errNotCoordinator
}

// ownerCode is ownerCodeLocked for a caller without c.mu; lock-free on a single node.
func (c *Coordinator) ownerCode(group string) int16 {
	if c.repl.Load() == nil {
		return errNone
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ownerCodeLocked(group)
}

// loading reports whether a partition's groups are being loaded.
func (c *Coordinator) loading() bool {
	r := c.repl.Load()
	if r == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range r.state {
		if s == partLoading {
			return true
		}
	}
	return false
}

// BeginLoad marks partition as loading: its groups get COORDINATOR_LOAD_IN_PROGRESS until
// LoadPartition.
func (c *Coordinator) BeginLoad(partition int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repl.Load().state[partition] = partLoading
}

// LoadPartition builds the groups of partition from the store, which must hold the partition's
// records (ApplyReplicated), and starts coordinating them.
func (c *Coordinator) LoadPartition(partition int32) error {
	n := c.repl.Load().partitions
	var groups map[string]*group
	err := c.readStore(func() error {
		var err error
		groups, err = c.buildGroups(func(name string) bool { return PartitionFor(name, n) == partition })
		return err
	})
	if err != nil {
		c.mu.Lock()
		c.repl.Load().state[partition] = partNotOwned
		c.mu.Unlock()
		return fmt.Errorf("loading groups of partition %d: %w", partition, err)
	}
	c.mu.Lock()
	for name, g := range groups {
		c.groups[name] = g
	}
	c.repl.Load().state[partition] = partOwned
	c.mu.Unlock()
	c.logger.Info("group coordinator: loaded partition", "partition", partition, "groups", len(groups))
	return nil
}

// UnloadPartition stops coordinating the groups of partition: parked requests get
// NOT_COORDINATOR, timers stop, and the groups are forgotten (the store keeps their state).
func (c *Coordinator) UnloadPartition(partition int32) {
	n := c.repl.Load().partitions
	c.mu.Lock()
	c.repl.Load().state[partition] = partNotOwned
	c.mu.Unlock()
	removed := c.unload(func(name string) bool { return PartitionFor(name, n) == partition })
	c.logger.Info("group coordinator: unloaded partition", "partition", partition, "groups", removed)
}

// unload removes the groups match selects, answering their parked requests with NOT_COORDINATOR.
func (c *Coordinator) unload(match func(string) bool) int {
	c.mu.Lock()
	var gone []*group
	for name, g := range c.groups {
		if match(name) {
			gone = append(gone, g)
			delete(c.groups, name)
		}
	}
	c.mu.Unlock()
	for _, g := range gone {
		var out outbox
		g.mu.Lock()
		g.shutdown(&out)
		g.transition(stateDead) // a request holding g looks it up again and finds no coordinator
		g.mu.Unlock()
		out.flush()
	}
	return len(gone)
}

// ApplyReplicated applies records of partition of the offsets topic, replicated up to next, to
// the store (every replica calls it, in log order).
func (c *Coordinator) ApplyReplicated(partition int32, recs []Record, next int64) error {
	return c.readStore(func() error { return c.store.ApplyReplicated(partition, recs, next) })
}

// ResetPartition removes every group of partition from the store and sets its applied offset to
// from: the partition's log lost records the store had applied (a leader that loaded its log end
// and was deposed before the high watermark passed it), so the store is rebuilt from the log.
func (c *Coordinator) ResetPartition(partition int32, from int64) error {
	n := c.repl.Load().partitions
	return c.readStore(func() error {
		var recs []Record
		err := c.store.Groups(func(name string, _ GroupValue) error {
			if PartitionFor(name, n) == partition {
				recs = append(recs, DeleteGroupRecord(name))
			}
			return nil
		})
		if err == nil {
			err = c.store.OffsetGroups(func(name string) error {
				if PartitionFor(name, n) == partition {
					recs = append(recs, DeleteGroupOffsetsRecord(name))
				}
				return nil
			})
		}
		if err != nil {
			return err
		}
		return c.store.ApplyReplicated(partition, recs, from)
	})
}

// StoredOffset reads a committed offset from the store whoever coordinates the group: what this
// replica has applied (tests and tools; clients ask the coordinator with OffsetFetch).
func (c *Coordinator) StoredOffset(group, topic string, partition int32) (v OffsetValue, ok bool, err error) {
	err = c.readStore(func() error {
		v, ok, err = c.store.Offset(group, topic, partition)
		return err
	})
	return v, ok, err
}

// AppliedOffset is the offset of partition below which every record is in the store.
func (c *Coordinator) AppliedOffset(partition int32) (int64, error) {
	var off int64
	err := c.readStore(func() (err error) {
		off, err = c.store.AppliedOffset(partition)
		return err
	})
	return off, err
}

// appendRecords hands a group's records to the journal: the replicated one in a cluster, the
// local one otherwise. Caller holds the group's lock.
func (c *Coordinator) appendRecords(group string, recs []Record, done func(error)) {
	if r := c.repl.Load(); r != nil {
		r.journal.Append(group, recs, done)
		return
	}
	c.journal.append(recs, done)
}
