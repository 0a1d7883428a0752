package broker

// DescribeConfigs: v0-4. TOPIC resources list every topic config Sluice honours (topicConfigKeys)
// with its effective value: DYNAMIC_TOPIC_CONFIG when set on the topic, else the broker's value,
// STATIC_BROKER_CONFIG when the operator set it (Config.StaticConfigs: sluice serve's config file,
// SLUICE_ environment or flags — what --print-config shows as FILE, ENV or FLAG) and
// DEFAULT_CONFIG when not. BROKER resources named by this node's id list the broker properties
// below, all read-only, with the same sources. Synonyms (v1+) are listed as Kafka lists them: the
// topic's own setting, then every static setting among the property's names (log.retention.ms,
// .minutes, .hours), then their defaults; config types and, when asked, documentation are
// returned from v3. An empty or null ConfigNames means every config.
//
// Deviations from Kafka: the topic configs Sluice does not know (compression.type, …) are not
// listed, nor are broker properties without a brokerProperty row. Kafka drops the synonyms that
// come before a property's own name (its walk keeps only what follows it), so a broker with only
// log.retention.hours set reports log.retention.ms and retention.ms as DEFAULT_CONFIG without
// synonyms; Sluice keeps them, so they read STATIC_BROKER_CONFIG with the log.retention.hours
// setting that decided them, and DEFAULT_CONFIG with log.retention.hours=168 when nothing is set.
// Without provenance (StaticConfigs nil) a property is STATIC_BROKER_CONFIG when its value
// differs from Kafka's default. The broker resource "" (cluster-wide dynamic defaults) is an
// empty list, as there are no dynamic broker configs. BROKER_LOGGER, CLIENT_METRICS and GROUP
// resources are INVALID_REQUEST.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(32, 0, 4, offLoop(handleDescribeConfigs)) }

// msPerHour converts log.retention.hours and log.roll.hours.
const msPerHour = 3600 * 1000

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
	// alsoNamed are the property's other names, in Kafka's precedence after key (log.retention.ms:
	// .minutes, then .hours), each with Kafka's default for it ("": none).
	alsoNamed []synonymName
	doc       string
}

// synonymName is one name of a broker property and Kafka's default under that name.
type synonymName struct{ key, kafkaDefault string }

// staticOrDefault is the value of a property whose value is what the operator gave, else def.
func staticOrDefault(key, def string) func(*Broker) string {
	return func(b *Broker) string {
		if v, ok := b.cfg.StaticConfigs[key]; ok {
			return v
		}
		return def
	}
}

func int64Prop(get func(b *Broker) int64) func(*Broker) string {
	return func(b *Broker) string { return strconv.FormatInt(get(b), 10) }
}

func constProp(v string) func(*Broker) string { return func(*Broker) string { return v } }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// brokerProperties are listed in this order for a BROKER resource.
var brokerProperties = []brokerProperty{
	{key: "node.id", typ: kmsg.ConfigTypeInt, alsoNamed: []synonymName{{"broker.id", ""}},
		value: func(b *Broker) string { return strconv.Itoa(int(b.cfg.NodeID)) },
		doc:   "This broker's id."},
	{key: "advertised.listeners", typ: kmsg.ConfigTypeString,
		value: func(b *Broker) string {
			adv := b.advertised.Load()
			return fmt.Sprintf("PLAINTEXT://%s:%d", adv.host, adv.port)
		},
		doc: "The address clients are told to connect to."},
	{key: "log.dirs", typ: kmsg.ConfigTypeString, alsoNamed: []synonymName{{"log.dir", ""}},
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
	{key: "unclean.leader.election.enable", topicKey: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean,
		kafkaDefault: "false", defaultNamed: true,
		value: func(b *Broker) string { return strconv.FormatBool(b.cfg.UncleanLeaderElection) },
		doc:   "Cluster mode: elect an out-of-sync replica when no in-sync one is left (acknowledged records may be lost)."},
	{key: "message.max.bytes", topicKey: "max.message.bytes", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(DefaultMessageMaxBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return int64(b.cfg.MessageMaxBytes) }),
		doc:   "The largest record batch accepted, in bytes."},
	{key: "log.retention.ms", topicKey: "retention.ms", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(log.DefaultRetentionMs),
		alsoNamed:    []synonymName{{"log.retention.minutes", ""}, {"log.retention.hours", itoa64(log.DefaultRetentionMs / msPerHour)}},
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
		alsoNamed:    []synonymName{{"log.roll.hours", itoa64(log.DefaultSegmentMs / msPerHour)}},
		value:        int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.SegmentMs }),
		doc:          "Roll to a new segment once the active one is this many ms old, so retention can delete it."},
	{key: "log.retention.hours", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(log.DefaultRetentionMs / msPerHour), defaultNamed: true,
		value: staticOrDefault("log.retention.hours", itoa64(log.DefaultRetentionMs/msPerHour)),
		doc:   "Time retention in hours, when neither log.retention.ms nor log.retention.minutes is set."},
	{key: "log.roll.hours", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(log.DefaultSegmentMs / msPerHour), defaultNamed: true,
		value: staticOrDefault("log.roll.hours", itoa64(log.DefaultSegmentMs/msPerHour)),
		doc:   "Roll a segment this many hours old, when log.roll.ms is not set."},
	{key: "log.index.size.max.bytes", topicKey: "segment.index.bytes", typ: kmsg.ConfigTypeInt,
		kafkaDefault: itoa64(log.DefaultSegmentIndexBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.SegmentIndexBytes }),
		doc:   "The size of each segment's offset and time index files; a full index rolls the segment."},
	{key: "log.recovery.verify.all", typ: kmsg.ConfigTypeBoolean, kafkaDefault: "false", defaultNamed: true,
		value: func(b *Broker) string { return strconv.FormatBool(b.cfg.LogDefaults.RecoveryVerifyAll) },
		doc:   "Sluice's own: at startup, CRC-check every segment of every partition, not only those after the recovery point of an unclean shutdown; truncate at the first corrupt batch."},
	{key: "log.preallocate.bytes", typ: kmsg.ConfigTypeLong, kafkaDefault: itoa64(log.DefaultPreallocateBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.PreallocateBytes }),
		doc:   "Sluice's own: each active segment's disk blocks are reserved (fallocate, file size unchanged) this far ahead of its data, so writes skip the filesystem's per-page delayed allocation; what is left is given back when the segment rolls or the log closes. 0: never."},
	{key: "log.page.cache.tail.bytes", typ: kmsg.ConfigTypeLong, kafkaDefault: itoa64(log.DefaultPageCacheTailBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.PageCacheTailBytes }),
		doc:   "Sluice's own: written data further than this behind each partition's end is dropped from the OS page cache as the log grows, so a steady writer recycles cache pages instead of taking fresh ones; 0 leaves the cache to the kernel, as Kafka does."},
	{key: "log.write.mode", typ: kmsg.ConfigTypeString, kafkaDefault: "direct", defaultNamed: true,
		value: func(b *Broker) string { return b.cfg.LogDefaults.WriteMode.String() },
		doc:   "Sluice's own: direct (the default) copies the batches of partitions written to fast and not read (log.write.direct.min.bytes.per.second, log.write.direct.unread.only) into a per-partition ring file, mapped shared, that a writer goroutine writes to the segment with O_DIRECT (less CPU per byte), and writes the other partitions' batches into the OS page cache; buffered writes every batch into the page cache, as Kafka does. In direct mode a batch is answered (acks=0, 1 and, with one replica, all) once it is in the ring: it is page cache, so a killed broker process loses nothing and the next start writes it into the log (an OS crash loses unflushed data in both modes). Its offsets count at once (high watermark, ListOffsets); a fetch of its bytes waits for the write, a few milliseconds. A partition written behind holds 4 MiB of memory and disk (log.write.direct.memory.bytes bounds them)."},
	{key: "log.write.direct.memory.bytes", typ: kmsg.ConfigTypeLong, kafkaDefault: itoa64(log.DefaultDirectMemoryBytes), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.RingBudget.Size() * log.RingBytes }),
		doc:   "Sluice's own, for log.write.mode=direct: the memory (and disk) write-behind rings may hold, 4 MiB per partition written behind. A partition takes a ring when it is written to fast (log.write.direct.min.bytes.per.second) and gives it back when it slows down or after a few seconds without appends; one written to while every ring is taken writes its batches as buffered mode does, so the broker's busiest partitions are written behind and thousands of partitions need no more than this."},
	{key: "log.write.direct.min.bytes.per.second", typ: kmsg.ConfigTypeLong, kafkaDefault: itoa64(log.DefaultDirectMinBytesPerSecond), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return b.cfg.LogDefaults.RingBudget.MinBytesPerSecond() }),
		doc:   "Sluice's own, for log.write.mode=direct: a partition takes a write-behind ring once appends to it reach this many bytes within a second, and gives it back when a second's appends fall below half of it. A slower partition writes its batches as buffered mode does: written behind, each of its batches would be a small O_DIRECT write of its own, which costs more than the pwrite. 0: every partition written to takes a ring."},
	{key: "log.write.direct.unread.only", typ: kmsg.ConfigTypeBoolean, kafkaDefault: "true", defaultNamed: true,
		value: func(b *Broker) string { return strconv.FormatBool(b.cfg.LogDefaults.RingBudget.UnreadOnly()) },
		doc:   "Sluice's own, for log.write.mode=direct: a partition read in the last three seconds, by a consumer or a follower, writes its batches as buffered mode does, so its readers find the newest records in the page cache as they would in Kafka; O_DIRECT writes leave nothing there, and reading them back from disk costs more than writing them behind saves. false: partitions are written behind however they are read."},
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
	{key: "replica.lag.time.max.ms", typ: kmsg.ConfigTypeLong,
		kafkaDefault: itoa64(replica.DefaultReplicaLagTimeMaxMs), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 {
			if b.cfg.ReplicaLagTimeMaxMs > 0 {
				return b.cfg.ReplicaLagTimeMaxMs
			}
			return replica.DefaultReplicaLagTimeMaxMs
		}),
		doc: "A follower that has not caught up with the leader for this long leaves the ISR."},
	groupProperty("group.initial.rebalance.delay.ms", kmsg.ConfigTypeInt, func(c group.Config) int64 { return int64(c.GroupInitialRebalanceDelayMs) },
		"How long an empty group waits for more members before its first rebalance."),
	groupProperty("group.min.session.timeout.ms", kmsg.ConfigTypeInt, func(c group.Config) int64 { return int64(c.GroupMinSessionTimeoutMs) },
		"The smallest session.timeout.ms a consumer may ask for."),
	groupProperty("group.max.session.timeout.ms", kmsg.ConfigTypeInt, func(c group.Config) int64 { return int64(c.GroupMaxSessionTimeoutMs) },
		"The largest session.timeout.ms a consumer may ask for."),
	groupProperty("group.max.size", kmsg.ConfigTypeInt, func(c group.Config) int64 { return int64(c.GroupMaxSize) },
		"The most members one consumer group may have."),
	groupProperty("offsets.retention.minutes", kmsg.ConfigTypeInt, func(c group.Config) int64 { return int64(c.OffsetsRetentionMinutes) },
		"How long an empty group's committed offsets are kept."),
	groupProperty("offsets.retention.check.interval.ms", kmsg.ConfigTypeLong, func(c group.Config) int64 { return c.OffsetsRetentionCheckIntervalMs },
		"How often expired committed offsets are removed."),
	groupProperty("offset.metadata.max.bytes", kmsg.ConfigTypeInt, func(c group.Config) int64 { return int64(c.OffsetMetadataMaxBytes) },
		"The largest metadata string a committed offset may carry."),
}

// groupProperty is a group coordinator property (engine/group's Config), read live: the
// coordinator's configuration may change while the broker runs.
func groupProperty(key string, typ kmsg.ConfigType, get func(group.Config) int64, doc string) brokerProperty {
	return brokerProperty{key: key, typ: typ, kafkaDefault: itoa64(get(group.DefaultConfig())), defaultNamed: true,
		value: int64Prop(func(b *Broker) int64 { return get(b.groups.Config()) }), doc: doc}
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
// the static settings among p's names (in their precedence), then the defaults under them.
func (p *brokerProperty) synonyms(b *Broker) []configSynonym {
	static := b.cfg.StaticConfigs
	if static == nil {
		return p.synonymsByValue(b)
	}
	def := ""
	if p.defaultNamed {
		def = p.kafkaDefault
	}
	names := append([]synonymName{{p.key, def}}, p.alsoNamed...)
	var out []configSynonym
	for _, n := range names {
		if v, ok := static[n.key]; ok {
			out = append(out, newSynonym(n.key, v, kmsg.ConfigSourceStaticBrokerConfig))
		}
	}
	for _, n := range names {
		if n.kafkaDefault != "" {
			out = append(out, newSynonym(n.key, n.kafkaDefault, kmsg.ConfigSourceDefaultConfig))
		}
	}
	return out
}

// synonymsByValue is synonyms without provenance: the value is static when it differs from
// Kafka's default (or Kafka has none), then Kafka's default.
func (p *brokerProperty) synonymsByValue(b *Broker) []configSynonym {
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
