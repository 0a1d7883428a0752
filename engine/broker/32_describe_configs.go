package broker

// DescribeConfigs: v0-4. TOPIC resources list every topic config Sluice honours (topicConfigKeys)
// with its effective value: DYNAMIC_TOPIC_CONFIG when set on the topic, else the broker's value,
// STATIC_BROKER_CONFIG when that differs from Kafka's default and DEFAULT_CONFIG when it does not.
// BROKER resources named by this node's id list the broker properties below, all read-only.
// Synonyms (v1+) follow Kafka's order (topic, static broker, default); config types and, when
// asked, documentation are returned from v3. An empty or null ConfigNames means every config.
//
// Deviations from Kafka: the topic configs Sluice does not know (compression.type, …) are not
// listed. The broker's configuration arrives merged (file and flags), so a broker property set to
// Kafka's own default reads as DEFAULT_CONFIG rather than STATIC_BROKER_CONFIG, and
// log.retention.ms / log.roll.ms are reported in ms whichever of the .hours/.minutes keys set
// them. The broker resource "" (cluster-wide dynamic defaults) is an empty list, as there are no
// dynamic broker configs. BROKER_LOGGER, CLIENT_METRICS and GROUP resources are INVALID_REQUEST.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(32, 0, 4, offLoop(handleDescribeConfigs)) }

// brokerProperty is one broker property DescribeConfigs reports, and the topic config that
// defaults from it (Kafka's topic config synonyms).
type brokerProperty struct {
	key      string // the broker property, Kafka's name
	topicKey string // the topic config whose default it is; "" if none
	typ      kmsg.ConfigType
	value    func(b *Broker) string // the broker's effective value, in key's units
	// kafkaDefault is Kafka's default for key, in key's units; "" means Kafka has none that
	// applies here (node.id, log.dirs, advertised.listeners), so the value is always static.
	kafkaDefault string
	// defaultNamed says Kafka lists a DEFAULT_CONFIG synonym under key. It does not for
	// log.retention.ms and log.roll.ms (their defaults live on the .hours keys, which Kafka's
	// synonym walk drops) nor for log.flush.interval.ms (no default of its own).
	defaultNamed bool
	doc          string
}

func int64Prop(get func(b *Broker) int64) func(*Broker) string {
	return func(b *Broker) string { return strconv.FormatInt(get(b), 10) }
}

func constProp(v string) func(*Broker) string { return func(*Broker) string { return v } }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// brokerProperties are listed in this order for a BROKER resource.
var brokerProperties = []brokerProperty{
	{key: "node.id", typ: kmsg.ConfigTypeInt,
		value: func(b *Broker) string { return strconv.Itoa(int(b.cfg.NodeID)) },
		doc:   "This broker's id."},
	{key: "advertised.listeners", typ: kmsg.ConfigTypeString,
		value: func(b *Broker) string {
			adv := b.advertised.Load()
			return fmt.Sprintf("PLAINTEXT://%s:%d", adv.host, adv.port)
		},
		doc: "The address clients are told to connect to."},
	{key: "log.dirs", typ: kmsg.ConfigTypeString,
		value: func(b *Broker) string { return b.cfg.LogDir },
		doc:   "The directory holding the partition logs and the topics file."},
	{key: "num.partitions", typ: kmsg.ConfigTypeInt, kafkaDefault: "1", defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return int64(b.cfg.NumPartitions) }),
		doc:   "Partitions of auto-created topics and of CreateTopics asking for -1."},
	{key: "default.replication.factor", typ: kmsg.ConfigTypeInt, kafkaDefault: "1", defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return int64(b.cfg.DefaultReplicationFactor) }),
		doc:   "Replication factor of auto-created topics and of CreateTopics asking for -1."},
	{key: "auto.create.topics.enable", typ: kmsg.ConfigTypeBoolean, kafkaDefault: "true", defaultNamed: true,
		value: func(b *Broker) string { return strconv.FormatBool(b.cfg.AutoCreateTopics) },
		doc:   "Create a topic when Metadata or Produce names an unknown one."},
	{key: "message.max.bytes", topicKey: "max.message.bytes", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(DefaultMessageMaxBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return int64(b.cfg.MessageMaxBytes) }),
		doc:   "The largest record batch accepted, in bytes."},
	{key: "log.retention.ms", topicKey: "retention.ms", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(log.DefaultRetentionMs),
		value:        int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.RetentionMs }),
		doc:          "Delete a segment once its newest record is older than this many ms; -1 keeps data forever."},
	{key: "log.retention.bytes", topicKey: "retention.bytes", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(log.DefaultRetentionBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.RetentionBytes }),
		doc:   "Delete the oldest segments while a partition is larger than this many bytes; -1 means no limit."},
	{key: "log.segment.bytes", topicKey: "segment.bytes", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(log.DefaultSegmentBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.SegmentBytes }),
		doc:   "Roll to a new segment when the active one would grow past this many bytes."},
	{key: "log.roll.ms", topicKey: "segment.ms", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(log.DefaultSegmentMs),
		value:        int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.SegmentMs }),
		doc:          "Roll to a new segment once the active one is this many ms old, so retention can delete it."},
	{key: "log.index.size.max.bytes", topicKey: "segment.index.bytes", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(log.DefaultSegmentIndexBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.SegmentIndexBytes }),
		doc:   "The size of each segment's offset and time index files; a full index rolls the segment."},
	{key: "log.index.interval.bytes", topicKey: "index.interval.bytes", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(log.DefaultIndexIntervalBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.IndexIntervalBytes }),
		doc:   "Bytes of log between two offset index entries."},
	{key: "log.flush.interval.messages", topicKey: "flush.messages", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(log.NoForcedFlush), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.FlushMessages }),
		doc:   "Fsync a partition after this many unflushed records (9223372036854775807: leave it to the OS)."},
	{key: "log.flush.interval.ms", topicKey: "flush.ms", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(log.NoForcedFlush),
		value:        int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.FlushMs }),
		doc:          "Fsync data that has been unflushed this many ms (9223372036854775807: leave it to the OS)."},
	{key: "log.cleanup.policy", topicKey: "cleanup.policy", typ: kmsg.ConfigTypeList,
		kafkaDefault: "delete", defaultNamed: true, value: constProp("delete"),
		doc: "What happens to old segments: delete (compact is not supported yet)."},
	{key: "log.message.timestamp.type", topicKey: "message.timestamp.type", typ: kmsg.ConfigTypeString,
		kafkaDefault: "CreateTime", defaultNamed: true, value: constProp("CreateTime"),
		doc: "CreateTime keeps the producer's record timestamps; LogAppendTime stamps batches with the broker's clock."},
	{key: "min.insync.replicas", topicKey: "min.insync.replicas", typ: kmsg.ConfigTypeInt,
		kafkaDefault: "1", defaultNamed: true, value: int64Prop(func(b *Broker) int64 { return int64(b.minInsyncReplicas()) }),
		doc: "In-sync replicas that must hold a write for acks=all, and below which the high watermark stops (KIP-966)."},
}

// topicConfigDefaults maps each topic config to the broker property it defaults from.
var topicConfigDefaults = func() map[string]*brokerProperty {
	m := map[string]*brokerProperty{}
	for i := range brokerProperties {
		if p := &brokerProperties[i]; p.topicKey != "" {
			m[p.topicKey] = p
		}
	}
	return m
}()

type configSynonym = kmsg.DescribeConfigsResponseResourceConfigConfigSynonym

func newSynonym(name, value string, source kmsg.ConfigSource) configSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, strPtr(value), source
	return s
}

// synonyms lists where the broker's value of p comes from, most preferred first, as Kafka does:
// the static setting when there is one, then Kafka's default.
func (p *brokerProperty) synonyms(b *Broker) []configSynonym {
	v := p.value(b)
	var out []configSynonym
	if p.kafkaDefault == "" || v != p.kafkaDefault {
		out = append(out, newSynonym(p.key, v, kmsg.ConfigSourceStaticBrokerConfig))
	}
	if p.kafkaDefault != "" && p.defaultNamed {
		out = append(out, newSynonym(p.key, p.kafkaDefault, kmsg.ConfigSourceDefaultConfig))
	}
	return out
}

// topicConfigValue is a topic config's effective value: the topic's own setting, else the
// broker's. configs is the topic's explicit set.
func (b *Broker) topicConfigValue(configs map[string]string, key string) string {
	if v, ok := configs[key]; ok {
		return v
	}
	return topicConfigDefaults[key].value(b)
}

func handleDescribeConfigs(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range r.Resources {
		rs := kmsg.NewDescribeConfigsResponseResource()
		rs.ResourceType, rs.ResourceName = rr.ResourceType, rr.ResourceName
		fail := func(code int16, msg string) {
			rs.ErrorCode, rs.ErrorMessage = code, strPtr(msg)
		}
		wanted := func(name string) bool {
			return len(rr.ConfigNames) == 0 || slices.Contains(rr.ConfigNames, name)
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			configs, ok := b.topicConfigsSnapshot(rr.ResourceName)
			switch {
			case !validTopicName(rr.ResourceName):
				fail(errInvalidTopic, fmt.Sprintf("topic name %q is illegal", rr.ResourceName))
			case !ok:
				fail(errUnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", rr.ResourceName))
			default:
				for _, key := range slices.Sorted(maps.Keys(topicConfigDefaults)) {
					if !wanted(key) {
						continue
					}
					p := topicConfigDefaults[key]
					syns := p.synonyms(b)
					if v, set := configs[key]; set {
						syns = append([]configSynonym{newSynonym(key, v, kmsg.ConfigSourceDynamicTopicConfig)}, syns...)
					}
					rs.Configs = append(rs.Configs, describedConfig(r, key, b.topicConfigValue(configs, key), false, syns, p))
				}
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName == "" {
				break // cluster-wide dynamic defaults: there are none
			}
			if id, err := strconv.ParseInt(rr.ResourceName, 10, 32); err != nil || int32(id) != b.cfg.NodeID {
				fail(errInvalidRequest, fmt.Sprintf("unexpected broker id %q: this is node %d (or use \"\" for cluster defaults)", rr.ResourceName, b.cfg.NodeID))
				break
			}
			for i := range brokerProperties {
				p := &brokerProperties[i]
				if wanted(p.key) {
					rs.Configs = append(rs.Configs, describedConfig(r, p.key, p.value(b), true, p.synonyms(b), p))
				}
			}
		default:
			fail(errInvalidRequest, fmt.Sprintf("resource type %d (%s) is not supported: only TOPIC (2) and BROKER (4)", rr.ResourceType, rr.ResourceType))
		}
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

// describedConfig builds one config entry; its source is its first synonym's, or DEFAULT_CONFIG.
func describedConfig(r *kmsg.DescribeConfigsRequest, name, value string, readOnly bool, syns []configSynonym, p *brokerProperty) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name, c.Value, c.ReadOnly, c.IsSensitive = name, strPtr(value), readOnly, false
	c.Source = kmsg.ConfigSourceDefaultConfig
	if len(syns) > 0 {
		c.Source = syns[0].Source
	}
	c.IsDefault = c.Source == kmsg.ConfigSourceDefaultConfig // v0 only
	if r.IncludeSynonyms {
		c.ConfigSynonyms = syns
	}
	c.ConfigType = p.typ
	if r.IncludeDocumentation {
		c.Documentation = strPtr(p.doc)
	}
	return c
}

// topicConfigsSnapshot copies a topic's explicit configs. Configs change under b.mu (AlterConfigs),
// so reading them takes it briefly. In a cluster they are the controller's image's.
func (b *Broker) topicConfigsSnapshot(name string) (map[string]string, bool) {
	if l := b.link.Load(); l != nil {
		t := l.Image().Topic(name)
		if t == nil {
			return nil, false
		}
		return maps.Clone(t.Configs), true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[name]
	if t == nil {
		return nil, false
	}
	return maps.Clone(t.configs), true
}
