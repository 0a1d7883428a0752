package broker

// The admin APIs of issue 3 (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs,
// DeleteRecords, CreatePartitions, DescribeCluster) through franz-go's kadm and raw kmsg requests
// against a real broker, and kcat after a topic grew. Their every-version cases for
// TestEveryAdvertisedVersion are in admin_versions_test.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// direct sends req straight to the broker (no client-side routing), so requests a client would
// refuse to route (unknown partitions, other brokers' ids) still reach it.
func direct[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.SeedBrokers()[0].Request(context.Background(), req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

// topicConfigs describes one topic through kadm, keyed by config name.
func topicConfigs(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v %s", topic, err, rc.Err, rc.ErrMessage)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}

func wantConfig(t *testing.T, cs map[string]kadm.Config, key, value string, source kmsg.ConfigSource) {
	t.Helper()
	c, ok := cs[key]
	if !ok {
		t.Fatalf("%s not described", key)
	}
	if c.MaybeValue() != value || c.Source != source {
		t.Fatalf("%s = %q from %v, want %q from %v (synonyms %+v)", key, c.MaybeValue(), c.Source, value, source, c.Synonyms)
	}
}

func synonymString(c kadm.Config) string {
	var parts []string
	for _, s := range c.Synonyms {
		parts = append(parts, fmt.Sprintf("%v:%s=%s", s.Source, s.Key, *s.Value))
	}
	return strings.Join(parts, " ")
}

func TestTopicConfigTablesAgree(t *testing.T) {
	for k := range topicConfigKeys {
		if topicConfigDefaults[k] == nil {
			t.Errorf("topic config %s has no broker property in brokerProperties", k)
		}
	}
	for k := range topicConfigDefaults {
		if !topicConfigKeys[k] {
			t.Errorf("brokerProperties names topic config %s, which topicConfigKeys does not honour", k)
		}
	}
}

func TestDescribeConfigs(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.LogDefaults.RetentionBytes = 1000000 })
	ctx := context.Background()
	cl := tb.client()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "described"); err != nil {
		t.Fatal(err)
	}
	cs := topicConfigs(t, adm, "described")
	if len(cs) != len(topicConfigKeys) {
		t.Errorf("described %d topic configs, want the %d Sluice honours", len(cs), len(topicConfigKeys))
	}
	for _, c := range cs {
		if c.Sensitive {
			t.Errorf("%s is sensitive", c.Key)
		}
	}
	wantConfig(t, cs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "retention.bytes", "1000000", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, cs, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, cs, "max.message.bytes", strconv.Itoa(DefaultMessageMaxBytes), kmsg.ConfigSourceDefaultConfig)
	for key, want := range map[string]string{
		"retention.ms":    "DYNAMIC_TOPIC_CONFIG:retention.ms=3600000",
		"retention.bytes": "STATIC_BROKER_CONFIG:log.retention.bytes=1000000 DEFAULT_CONFIG:log.retention.bytes=-1",
		"segment.bytes":   "DEFAULT_CONFIG:log.segment.bytes=1073741824",
	} {
		if got := synonymString(cs[key]); got != want {
			t.Errorf("%s synonyms %q, want %q", key, got, want)
		}
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "missing")
	if err != nil {
		t.Fatal(err)
	}
	if rc, _ := rcs.On("missing", nil); !errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", rc.Err)
	}

	// A subset of keys, with documentation and types (v3+), and resource types Sluice lacks.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, "described", []string{"max.message.bytes", "retention.ms", "no.such.key"}
	req.Resources = append(req.Resources, r)
	r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeClientMetrics, "x", nil
	req.Resources = append(req.Resources, r)
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	req.Resources = append(req.Resources, r)
	resp := direct[*kmsg.DescribeConfigsResponse](t, cl, req)
	got := resp.Resources[0].Configs
	if len(got) != 2 || got[0].Name != "max.message.bytes" || got[0].ConfigType != kmsg.ConfigTypeInt ||
		got[1].Name != "retention.ms" || got[1].ConfigType != kmsg.ConfigTypeLong || got[1].Documentation == nil || got[1].ReadOnly {
		t.Errorf("subset: %+v", got)
	}
	for _, i := range []int{1, 2} {
		if c := resp.Resources[i].ErrorCode; c != errInvalidRequest {
			t.Errorf("resource %d (%v %q): error %d, want INVALID_REQUEST", i, resp.Resources[i].ResourceType, resp.Resources[i].ResourceName, c)
		}
	}

	// The broker's own properties: read-only, static where set, defaults otherwise.
	bcs := brokerConfigs(t, adm, 0)
	wantConfig(t, bcs, "node.id", "0", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, bcs, "log.dirs", tb.dir, kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, bcs, "advertised.listeners", "PLAINTEXT://"+tb.addr, kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, bcs, "log.retention.bytes", "1000000", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, bcs, "log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, bcs, "message.max.bytes", strconv.Itoa(DefaultMessageMaxBytes), kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, bcs, "num.partitions", "1", kmsg.ConfigSourceDefaultConfig)
	breq := kmsg.NewPtrDescribeConfigsRequest()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
	breq.Resources = append(breq.Resources, r)
	for _, c := range direct[*kmsg.DescribeConfigsResponse](t, cl, breq).Resources[0].Configs {
		if !c.ReadOnly {
			t.Errorf("broker config %s is not read-only", c.Name)
		}
	}
}

func TestAlterConfigs(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir)
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "alter"); err != nil {
		t.Fatal(err)
	}
	respErr := func(rs AlterResult, err error) error {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		r, err := rs.On("alter", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Err != nil {
			return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
		return nil
	}
	set := func(kv ...string) []kadm.AlterConfig {
		var out []kadm.AlterConfig
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[i], Value: kadm.StringPtr(kv[i+1])})
		}
		return out
	}
	big := &kgo.Record{Topic: "alter", Value: bytes.Repeat([]byte("x"), 5000)}
	produce := func(tb *testBroker) error {
		t.Helper()
		cl := tb.client(kgo.ProducerBatchCompression(kgo.NoCompression()))
		return cl.ProduceSync(ctx, &kgo.Record{Topic: big.Topic, Value: big.Value}).FirstErr()
	}
	partitionConfig := func(tb *testBroker) (int64, int32) {
		p := tb.b.lookupPartition("alter", 0)
		return p.log.Config().RetentionMs, p.maxMessageBytes.Load()
	}

	// AlterConfigs replaces the whole set.
	if err := respErr(adm.AlterTopicConfigsState(ctx, set("max.message.bytes", "2000", "retention.ms", "60000"), "alter")); err != nil {
		t.Fatalf("AlterConfigs: %v", err)
	}
	cs := topicConfigs(t, adm, "alter")
	wantConfig(t, cs, "max.message.bytes", "2000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "retention.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	if ms, maxBytes := partitionConfig(tb); ms != 60000 || maxBytes != 2000 {
		t.Fatalf("running partition: retention.ms %d max.message.bytes %d, want 60000 2000", ms, maxBytes)
	}
	if err := produce(tb); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("5000-byte record with max.message.bytes=2000: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := respErr(adm.AlterTopicConfigsState(ctx, set("retention.ms", "70000"), "alter")); err != nil {
		t.Fatal(err)
	}
	cs = topicConfigs(t, adm, "alter")
	wantConfig(t, cs, "max.message.bytes", strconv.Itoa(DefaultMessageMaxBytes), kmsg.ConfigSourceDefaultConfig)
	if err := produce(tb); err != nil {
		t.Fatalf("5000-byte record once max.message.bytes is back to the default: %v", err)
	}

	// IncrementalAlterConfigs changes only what it names.
	if err := respErr(adm.AlterTopicConfigs(ctx, set("max.message.bytes", "3000"), "alter")); err != nil {
		t.Fatalf("IncrementalAlterConfigs: %v", err)
	}
	if err := respErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("120000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")},
		{Op: kadm.DeleteConfig, Name: "segment.ms"},
	}, "alter")); err != nil {
		t.Fatalf("IncrementalAlterConfigs: %v", err)
	}
	cs = topicConfigs(t, adm, "alter")
	wantConfig(t, cs, "retention.ms", "120000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "max.message.bytes", "3000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDynamicTopicConfig)
	if err := produce(tb); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("5000-byte record with max.message.bytes=3000: %v, want MESSAGE_TOO_LARGE", err)
	}

	// Rejections leave the configs as they were.
	for name, alter := range map[string]func() (AlterResult, error){
		"compact": func() (AlterResult, error) {
			return adm.AlterTopicConfigs(ctx, set("cleanup.policy", "compact"), "alter")
		},
		"compact (state)": func() (AlterResult, error) {
			return adm.AlterTopicConfigsState(ctx, set("cleanup.policy", "compact"), "alter")
		},
		"append compact": func() (AlterResult, error) {
			return adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "alter")
		},
		"append to a number": func() (AlterResult, error) {
			return adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("5")}}, "alter")
		},
		"unknown key": func() (AlterResult, error) {
			return adm.AlterTopicConfigs(ctx, set("compression.type", "zstd"), "alter")
		},
		"not a number": func() (AlterResult, error) { return adm.AlterTopicConfigs(ctx, set("retention.ms", "soon"), "alter") },
	} {
		if err := respErr(alter()); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%s: %v, want INVALID_CONFIG", name, err)
		} else if name == "compact" && !strings.Contains(err.Error(), "compact") {
			t.Errorf("compact rejected without saying why: %v", err)
		}
	}
	if err := respErr(adm.ValidateAlterTopicConfigs(ctx, set("retention.ms", "1"), "alter")); err != nil {
		t.Fatalf("validate only: %v", err)
	}
	cs = topicConfigs(t, adm, "alter")
	wantConfig(t, cs, "retention.ms", "120000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "cleanup.policy", "delete", kmsg.ConfigSourceDynamicTopicConfig)
	brs, err := adm.AlterBrokerConfigs(ctx, set("log.retention.ms", "1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if br, _ := brs.On("0", nil); !errors.Is(br.Err, kerr.InvalidRequest) || !strings.Contains(br.ErrMessage, "static") {
		t.Errorf("altering a broker config: %v %q, want INVALID_REQUEST saying broker configs are static", br.Err, br.ErrMessage)
	}

	// The configs survive a restart and apply to the reopened partition.
	tb.stop()
	tb = startBroker(t, dir)
	adm = kadm.NewClient(tb.client())
	cs = topicConfigs(t, adm, "alter")
	wantConfig(t, cs, "retention.ms", "120000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, cs, "max.message.bytes", "3000", kmsg.ConfigSourceDynamicTopicConfig)
	if ms, maxBytes := partitionConfig(tb); ms != 120000 || maxBytes != 3000 {
		t.Fatalf("after restart: retention.ms %d max.message.bytes %d, want 120000 3000", ms, maxBytes)
	}
	if err := produce(tb); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("after restart, 5000-byte record: %v, want MESSAGE_TOO_LARGE", err)
	}
}

// AlterResult is what kadm's alter calls return.
type AlterResult = kadm.AlterConfigsResponses

func TestDeleteRecords(t *testing.T) {
	dir := t.TempDir()
	tb := startBroker(t, dir)
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	// Small segments, so deleting records deletes whole segments too.
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1024")}, "trim"); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic("trim"))
	for i := range 100 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%03d-%s", i, strings.Repeat("p", 90)))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := tb.b.lookupPartition("trim", 0)
	segmentsBefore := p.log.NumSegments()

	var offs kadm.Offsets
	offs.AddOffset("trim", 0, 60, -1)
	drs, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if dr, _ := drs.Lookup("trim", 0); dr.Err != nil || dr.LowWatermark != 60 {
		t.Fatalf("delete before 60: low watermark %d, %v", dr.LowWatermark, dr.Err)
	}
	if n := p.log.NumSegments(); n >= segmentsBefore {
		t.Errorf("%d segments before and %d after deleting 60 of 100 records", segmentsBefore, n)
	}
	recs := consumeAll(t, tb, "trim", 40)
	if len(recs) != 40 || recs[0].Offset != 60 || !strings.HasPrefix(string(recs[0].Value), "v060-") {
		t.Fatalf("consumed %d records from offset %d, want 40 from 60", len(recs), recs[0].Offset)
	}

	// The log start offset survives a restart.
	tb.stop()
	tb = startBroker(t, dir)
	cl := tb.client()
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, "trim")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("trim", 0); o.Offset != 60 {
		t.Fatalf("log start offset after restart %d, want 60", o.Offset)
	}

	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "trim"
	for _, off := range []struct {
		partition int32
		offset    int64
	}{{0, 1000}, {0, -5}, {7, 1}, {0, 30}, {0, -1}} {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = off.partition, off.offset
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	got := direct[*kmsg.DeleteRecordsResponse](t, cl, req).Topics[0].Partitions
	want := []struct {
		code int16
		lw   int64
	}{{errOffsetOutOfRange, -1}, {errOffsetOutOfRange, -1}, {errUnknownTopicOrPartition, -1}, {errNone, 60}, {errNone, 100}}
	for i, w := range want {
		if got[i].ErrorCode != w.code || got[i].LowWatermark != w.lw {
			t.Errorf("partition %d offset %d: error %d low watermark %d, want %d %d", rt.Partitions[i].Partition, rt.Partitions[i].Offset,
				got[i].ErrorCode, got[i].LowWatermark, w.code, w.lw)
		}
	}
}

func TestCreatePartitions(t *testing.T) {
	kcat := requireTool(t, "kcat")
	dir := t.TempDir()
	tb := startBroker(t, dir)
	ctx := context.Background()
	cl := tb.client()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("4000")}, "grow"); err != nil {
		t.Fatal(err)
	}
	partitions := func(adm *kadm.Client) int {
		t.Helper()
		td, err := adm.ListTopics(ctx, "grow")
		if err != nil {
			t.Fatal(err)
		}
		return len(td["grow"].Partitions)
	}
	if rs, err := adm.ValidateUpdatePartitions(ctx, 5, "grow"); err != nil || rs.Error() != nil {
		t.Fatalf("validate only: %v %v", err, rs.Error())
	}
	if n := partitions(adm); n != 2 {
		t.Fatalf("validate only created partitions: %d", n)
	}
	if rs, err := adm.UpdatePartitions(ctx, 5, "grow"); err != nil || rs.Error() != nil {
		t.Fatalf("grow to 5: %v %v", err, rs.Error())
	}
	if n := partitions(adm); n != 5 {
		t.Fatalf("%d partitions after growing to 5", n)
	}
	if got := tb.b.lookupPartition("grow", 4).maxMessageBytes.Load(); got != 4000 {
		t.Errorf("new partition max.message.bytes %d, want the topic's 4000", got)
	}
	prod := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res, err := prod.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: 4, Value: []byte("p4")}).First()
	if err != nil || res.Partition != 4 || res.Offset != 0 {
		t.Fatalf("produce to partition 4: %v (partition %d offset %d)", err, res.Partition, res.Offset)
	}
	// Old and new partitions count into the same topic metrics.
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: 0, Value: []byte("p0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := tb.b.lookupTopic("grow").metrics.recordsIn.Load(); got != 2 {
		t.Errorf("topic metrics count %d records in, want 2", got)
	}
	for count, want := range map[int]error{3: kerr.InvalidPartitions, 5: kerr.InvalidPartitions} {
		rs, err := adm.UpdatePartitions(ctx, count, "grow")
		if err != nil {
			t.Fatal(err)
		}
		if got := rs["grow"].Err; !errors.Is(got, want) {
			t.Errorf("set 5 partitions to %d: %v, want %v", count, got, want)
		}
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	for _, c := range []struct {
		topic    string
		count    int32
		replicas [][]int32
	}{{"nope", 3, nil}, {"grow", 7, [][]int32{{0}}}, {"grow", 6, [][]int32{{1}}}} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = c.topic, c.count
		for _, r := range c.replicas {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = r
			rt.Assignment = append(rt.Assignment, a)
		}
		req.Topics = append(req.Topics, rt)
	}
	got := direct[*kmsg.CreatePartitionsResponse](t, cl, req).Topics
	// "grow" is named twice: both are refused, as Kafka does.
	for i, want := range []int16{errUnknownTopicOrPartition, errInvalidRequest, errInvalidRequest} {
		if got[i].ErrorCode != want {
			t.Errorf("topic %d (%s): error %d, want %d", i, got[i].Topic, got[i].ErrorCode, want)
		}
	}
	req.Topics = req.Topics[2:]
	if c := direct[*kmsg.CreatePartitionsResponse](t, cl, req).Topics[0].ErrorCode; c != errInvalidReplicaAssignment {
		t.Errorf("assignment to broker 1: error %d, want INVALID_REPLICA_ASSIGNMENT", c)
	}
	req.Topics[0].Assignment[0].Replicas = []int32{0}
	if c := direct[*kmsg.CreatePartitionsResponse](t, cl, req).Topics[0].ErrorCode; c != errNone {
		t.Errorf("assignment to this broker: error %d", c)
	}

	tb.stop()
	tb = startBroker(t, dir)
	if n := partitions(kadm.NewClient(tb.client())); n != 6 {
		t.Fatalf("%d partitions after restart, want 6", n)
	}
	meta := runCmd(t, "", kcat, "-b", tb.addr, "-L", "-t", "grow")
	if !strings.Contains(meta, `topic "grow" with 6 partitions`) || !strings.Contains(meta, "partition 5, leader 0") {
		t.Fatalf("kcat -L after CreatePartitions:\n%s", meta)
	}
}

func TestDescribeCluster(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	cl := tb.client()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(tb.addr)
	if resp.ErrorCode != 0 || resp.ClusterID != clusterID || resp.ControllerID != 0 || len(resp.Brokers) != 1 ||
		resp.Brokers[0].NodeID != 0 || resp.Brokers[0].Host != host || strconv.Itoa(int(resp.Brokers[0].Port)) != port {
		t.Fatalf("DescribeCluster v%d: %+v", resp.Version, resp)
	}
	if resp.ClusterAuthorizedOperations&(1<<8) == 0 { // DESCRIBE
		t.Errorf("cluster authorized operations %b lack DESCRIBE", resp.ClusterAuthorizedOperations)
	}
	req.EndpointType = 2 // controllers
	if resp := direct[*kmsg.DescribeClusterResponse](t, cl, req); resp.ErrorCode != errUnsupportedEndpointType {
		t.Errorf("endpoint type 2: error %d, want UNSUPPORTED_ENDPOINT_TYPE", resp.ErrorCode)
	}
}
