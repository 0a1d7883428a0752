package broker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerConfigs describes broker id's properties through kadm, keyed by name.
func brokerConfigs(t *testing.T, adm *kadm.Client, id int32) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(strconv.Itoa(int(id)), nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe broker %d: %v %v", id, err, rc.Err)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

// TestDescribeConfigsProvenance: with Config.StaticConfigs (what sluice serve passes), a property
// the operator set is STATIC_BROKER_CONFIG even at Kafka's default value, one not set is
// DEFAULT_CONFIG whatever its value, and synonyms list the static settings among a property's
// names, then their defaults; a topic's own setting comes first.
func TestDescribeConfigsProvenance(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(cfg *Config) {
		cfg.StaticConfigs = map[string]string{
			"log.retention.hours": "24", "log.retention.bytes": "1000000", "num.partitions": "1", "log.dirs": cfg.LogDir,
		}
		cfg.LogDefaults.RetentionMs = (24 * time.Hour).Milliseconds()
		cfg.LogDefaults.RetentionBytes = 1000000
	})
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	retention := "3600000"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &retention}, "prov"); err != nil {
		t.Fatal(err)
	}
	bcs := brokerConfigs(t, adm, 0)
	tcs := topicConfigs(t, adm, "prov")
	static, def, dynamic := kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceDynamicTopicConfig
	for _, c := range []struct {
		cs       map[string]kadm.Config
		key      string
		value    string
		source   kmsg.ConfigSource
		synonyms string
	}{
		// Set to Kafka's default, but set: static.
		{bcs, "num.partitions", "1", static, "STATIC_BROKER_CONFIG:num.partitions=1 DEFAULT_CONFIG:num.partitions=1"},
		{bcs, "log.dirs", tb.dir, static, "STATIC_BROKER_CONFIG:log.dirs=" + tb.dir},
		// Not set: default, even without a Kafka default to name (node.id).
		{bcs, "node.id", "0", def, ""},
		{bcs, "message.max.bytes", "1048588", def, "DEFAULT_CONFIG:message.max.bytes=1048588"},
		// log.retention.ms decided by log.retention.hours.
		{bcs, "log.retention.ms", "86400000", static, "STATIC_BROKER_CONFIG:log.retention.hours=24 DEFAULT_CONFIG:log.retention.hours=168"},
		{bcs, "log.retention.hours", "24", static, "STATIC_BROKER_CONFIG:log.retention.hours=24 DEFAULT_CONFIG:log.retention.hours=168"},
		{bcs, "log.roll.ms", "604800000", def, "DEFAULT_CONFIG:log.roll.hours=168"},
		{bcs, "log.roll.hours", "168", def, "DEFAULT_CONFIG:log.roll.hours=168"},
		// Topic configs: the topic's own, else the broker's with its provenance.
		{tcs, "retention.ms", "3600000", dynamic, "DYNAMIC_TOPIC_CONFIG:retention.ms=3600000 STATIC_BROKER_CONFIG:log.retention.hours=24 DEFAULT_CONFIG:log.retention.hours=168"},
		{tcs, "retention.bytes", "1000000", static, "STATIC_BROKER_CONFIG:log.retention.bytes=1000000 DEFAULT_CONFIG:log.retention.bytes=-1"},
		{tcs, "segment.bytes", "1073741824", def, "DEFAULT_CONFIG:log.segment.bytes=1073741824"},
	} {
		wantConfig(t, c.cs, c.key, c.value, c.source)
		if got := synonymString(c.cs[c.key]); got != c.synonyms {
			t.Errorf("%s synonyms\n got %s\nwant %s", c.key, got, c.synonyms)
		}
	}
}
