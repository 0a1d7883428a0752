package broker

// Every-version cases of the admin APIs for TestEveryAdvertisedVersion (versions_test.go): each
// sends the request encoded at exactly version v over a raw connection and checks the answer.
// They register themselves from init so versions_test.go needs no edit; a case written there for
// the same key wins.

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	for key, vc := range map[int16]versionCase{
		21: deleteRecordsVersionCase,
		32: describeConfigsVersionCase,
		33: alterConfigsVersionCase,
		37: createPartitionsVersionCase,
		44: incrementalAlterConfigsVersionCase,
		60: describeClusterVersionCase,
	} {
		if versionCases[key] == nil {
			versionCases[key] = vc
		}
	}
}

func deleteRecordsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("delete-records-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	if p := produceOne(t, c, apis[0].max, topic, 0, testBatch(time.Now().UnixMilli(), "a", "b", "c")); p.ErrorCode != 0 {
		t.Fatalf("produce: error %d", p.ErrorCode)
	}
	req := versioned(kmsg.NewPtrDeleteRecordsRequest(), v)
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for _, po := range [][2]int64{{0, 2}, {0, 4}, {3, 0}} {
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = int32(po[0]), po[1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	got := c.do(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions
	for i, w := range []struct {
		code int16
		lw   int64
	}{{0, 2}, {errOffsetOutOfRange, -1}, {errUnknownTopicOrPartition, -1}} {
		if got[i].ErrorCode != w.code || got[i].LowWatermark != w.lw {
			t.Errorf("v%d %+v: error %d low watermark %d, want %d %d", v, rt.Partitions[i], got[i].ErrorCode, got[i].LowWatermark, w.code, w.lw)
		}
	}
}

func describeConfigsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("describe-configs-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	req := versioned(kmsg.NewPtrDescribeConfigsRequest(), v)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{kmsg.ConfigResourceTypeTopic, topic}, {kmsg.ConfigResourceTypeBroker, "0"}, {kmsg.ConfigResourceTypeTopic, "missing"}} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = r.typ, r.name, []string{"segment.bytes", "node.id"}
		req.Resources = append(req.Resources, rr)
	}
	res := c.do(req).(*kmsg.DescribeConfigsResponse).Resources
	if res[0].ErrorCode != 0 || res[1].ErrorCode != 0 || res[2].ErrorCode != errUnknownTopicOrPartition {
		t.Fatalf("v%d: errors %d %d %d, want 0 0 %d", v, res[0].ErrorCode, res[1].ErrorCode, res[2].ErrorCode, errUnknownTopicOrPartition)
	}
	if len(res[0].Configs) != 1 || len(res[1].Configs) != 1 {
		t.Fatalf("v%d: %d topic and %d broker configs, want 1 and 1", v, len(res[0].Configs), len(res[1].Configs))
	}
	seg, node := res[0].Configs[0], res[1].Configs[0]
	switch {
	case seg.Name != "segment.bytes" || seg.Value == nil || *seg.Value != "1073741824" || seg.ReadOnly:
		t.Errorf("v%d topic config %+v", v, seg)
	case node.Name != "node.id" || node.Value == nil || *node.Value != "0" || !node.ReadOnly:
		t.Errorf("v%d broker config %+v", v, node)
	case v == 0 && (!seg.IsDefault || node.IsDefault):
		t.Errorf("v0: is_default %v for segment.bytes and %v for node.id, want true and false", seg.IsDefault, node.IsDefault)
	case v >= 1 && (seg.Source != kmsg.ConfigSourceDefaultConfig || len(seg.ConfigSynonyms) != 1 || node.Source != kmsg.ConfigSourceStaticBrokerConfig):
		t.Errorf("v%d: segment.bytes from %v with synonyms %+v, node.id from %v", v, seg.Source, seg.ConfigSynonyms, node.Source)
	case v >= 3 && (seg.ConfigType != kmsg.ConfigTypeInt || seg.Documentation == nil || *seg.Documentation == ""):
		t.Errorf("v%d: segment.bytes type %v documentation %v", v, seg.ConfigType, seg.Documentation)
	}
}

// alterConfigsVersionCase checks AlterConfigs at v applies retention.ms to the running partition
// and refuses compact and broker resources.
func alterConfigsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("alter-configs-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	rawCreateTopic(t, c, topic+"-compact", 1)
	req := versioned(kmsg.NewPtrAlterConfigsRequest(), v)
	for _, r := range []struct {
		typ         kmsg.ConfigResourceType
		name, k, kv string
	}{{kmsg.ConfigResourceTypeTopic, topic, "retention.ms", strconv.Itoa(100000 + int(v))},
		{kmsg.ConfigResourceTypeTopic, topic + "-compact", "cleanup.policy", "compact"},
		{kmsg.ConfigResourceTypeBroker, "0", "log.retention.ms", "1"}} {
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = r.typ, r.name
		cfg := kmsg.NewAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = r.k, kmsg.StringPtr(r.kv)
		rr.Configs = append(rr.Configs, cfg)
		req.Resources = append(req.Resources, rr)
	}
	res := c.do(req).(*kmsg.AlterConfigsResponse).Resources
	for i, want := range []int16{0, errInvalidConfig, errInvalidRequest} {
		if res[i].ErrorCode != want {
			t.Errorf("v%d resource %d: error %d, want %d", v, i, res[i].ErrorCode, want)
		}
	}
	if got := tb.b.lookupPartition(topic, 0).log.Config().RetentionMs; got != 100000+int64(v) {
		t.Errorf("v%d: partition retention.ms %d, want %d", v, got, 100000+int(v))
	}
}

func incrementalAlterConfigsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("incremental-alter-configs-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	send := func(op kmsg.IncrementalAlterConfigOp, name, value string) int16 {
		req := versioned(kmsg.NewPtrIncrementalAlterConfigsRequest(), v)
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Op, cfg.Name, cfg.Value = op, name, kmsg.StringPtr(value)
		rr.Configs = append(rr.Configs, cfg)
		req.Resources = append(req.Resources, rr)
		return c.do(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
	}
	if code := send(kmsg.IncrementalAlterConfigOpSet, "segment.ms", strconv.Itoa(200000+int(v))); code != 0 {
		t.Fatalf("v%d SET segment.ms: error %d", v, code)
	}
	if got := tb.b.lookupPartition(topic, 0).log.Config().SegmentMs; got != 200000+int64(v) {
		t.Errorf("v%d: partition segment.ms %d, want %d", v, got, 200000+int(v))
	}
	if code := send(kmsg.IncrementalAlterConfigOpAppend, "segment.ms", "5"); code != errInvalidConfig {
		t.Errorf("v%d APPEND to segment.ms: error %d, want INVALID_CONFIG", v, code)
	}
}

func createPartitionsVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	topic := fmt.Sprintf("create-partitions-v%d", v)
	rawCreateTopic(t, c, topic, 1)
	send := func(count int32) int16 {
		req := versioned(kmsg.NewPtrCreatePartitionsRequest(), v)
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		req.Topics = append(req.Topics, rt)
		return c.do(req).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
	}
	if code := send(3); code != 0 {
		t.Fatalf("v%d grow 1→3: error %d", v, code)
	}
	if code := send(2); code != errInvalidPartitions {
		t.Errorf("v%d shrink 3→2: error %d, want INVALID_PARTITIONS", v, code)
	}
	if got := len(tb.b.lookupTopic(topic).partitions); got != 3 {
		t.Errorf("v%d: %d partitions, want 3", v, got)
	}
}

func describeClusterVersionCase(t *testing.T, tb *testBroker, c *rawClient, v int16) {
	resp := c.do(versioned(kmsg.NewPtrDescribeClusterRequest(), v)).(*kmsg.DescribeClusterResponse)
	adv := tb.b.advertised.Load()
	if resp.ErrorCode != 0 || resp.ClusterID != clusterID || resp.ControllerID != tb.b.cfg.NodeID || len(resp.Brokers) != 1 ||
		resp.Brokers[0].Host != adv.host || resp.Brokers[0].Port != adv.port || (v >= 1 && resp.EndpointType != 1) {
		t.Errorf("v%d: %+v", v, resp)
	}
}
