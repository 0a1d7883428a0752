package harness

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

var topicUnsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// topicNames are unique per run, so a shared cluster's old records never
// mix in (and if they did, the run id in each value would exclude them).
func (r *run) topicNames() []string {
	name := topicUnsafe.ReplaceAllString(r.w.Name, "-")
	if len(name) > 100 {
		name = name[:100]
	}
	ts := make([]string, r.w.Topics)
	for i := range ts {
		ts[i] = fmt.Sprintf("%s-%s-%08x-%d", topicPrefix, name, r.runID, i)
	}
	return ts
}

func (r *run) createTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	rf := int16(r.w.ReplicationFactor)
	if rf == 0 {
		rf = -1 // the broker's default.replication.factor
	}
	parts := int32(r.w.PartitionsPerTopic)
	resp, err := r.adm.CreateTopics(ctx, parts, rf, nil, r.topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("create %d topics of %d partitions on %v: %w", len(r.topics), parts, r.bootstrap, err)
	}
	// A created topic is not yet writable everywhere: wait until the
	// metadata shows a leader for every partition.
	for {
		md, err := r.adm.Metadata(ctx, r.topics...)
		if err == nil {
			err = everyPartitionLed(md, r.topics, int(parts))
		}
		if err == nil {
			r.opt.Logf("created %d topic(s) × %d partitions", len(r.topics), parts)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics not ready after %s: %w", setupTimeout, err)
		case <-time.After(pollEvery):
		}
	}
}

func everyPartitionLed(md kadm.Metadata, topics []string, parts int) error {
	for _, t := range topics {
		td, ok := md.Topics[t]
		switch {
		case !ok:
			return fmt.Errorf("topic %s missing from metadata", t)
		case td.Err != nil:
			return fmt.Errorf("topic %s: %w", t, td.Err)
		case len(td.Partitions) != parts:
			return fmt.Errorf("topic %s has %d of %d partitions", t, len(td.Partitions), parts)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Errorf("topic %s partition %d has no leader (%v)", t, p.Partition, p.Err)
			}
		}
	}
	return nil
}

// deleteTopics is best effort: a failure leaves named, recognisable topics.
func (r *run) deleteTopics() {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	resp, err := r.adm.DeleteTopics(ctx, r.topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		r.opt.Logf("delete topics %v: %v", r.topics, err)
	}
}
