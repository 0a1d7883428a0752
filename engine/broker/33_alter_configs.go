package broker

// AlterConfigs: v0-2. A TOPIC resource's configs replace the topic's whole explicit config set
// (a config left out returns to the broker default); an entry with a null value is INVALID_CONFIG
// (leaving the key out is how to return it to the default). The new set is validated like
// CreateTopics' (unknown keys, unsupported values such as cleanup.policy=compact: INVALID_CONFIG
// with the reason), written to the topics file and applied to the running partitions at once.
// ValidateOnly checks without applying. Resources are handled in order, each on its own.
//
// With a Raft controller attached, a topic's configs change through it (ControllerLink.alterConfigs:
// an AlterTopicConfig record every broker applies to its partitions).
//
// Deviations from Kafka: BROKER resources are INVALID_REQUEST, because Sluice's broker configs are
// static (flags and the config file) for now; BROKER_LOGGER, CLIENT_METRICS and GROUP resources
// are INVALID_REQUEST too.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

func init() { register(33, 0, 2, offLoop(handleAlterConfigs)) }

// brokerConfigsStatic is the answer to altering a BROKER resource.
const brokerConfigsStatic = "broker configs are static in Sluice for now: set them with flags or the config file and restart"

func handleAlterConfigs(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.AlterConfigsRequest)
	if l := b.link.Load(); l != nil {
		return l.alterConfigs(r) // through the Raft controller (controller_ops.go)
	}
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rr := range r.Resources {
		rs := kmsg.NewAlterConfigsResponseResource()
		rs.ResourceType, rs.ResourceName = rr.ResourceType, rr.ResourceName
		code, msg := b.alterTopicConfigsLocked(rr.ResourceType, rr.ResourceName, r.ValidateOnly, replaceConfigs(rr.Configs))
		if code != errNone {
			rs.ErrorCode, rs.ErrorMessage = code, strPtr(msg)
		}
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

// replaceConfigs is AlterConfigs' change: the resource's configs become the topic's whole explicit
// set; a null value is INVALID_CONFIG.
func replaceConfigs(set []kmsg.AlterConfigsRequestResourceConfig) func(map[string]string) (map[string]string, int16, string) {
	return func(map[string]string) (map[string]string, int16, string) {
		configs := make(map[string]string, len(set))
		for _, c := range set {
			if c.Value == nil {
				return nil, errInvalidConfig, fmt.Sprintf("null value not supported for topic config %q", c.Name)
			}
			configs[c.Name] = *c.Value
		}
		return configs, errNone, ""
	}
}

// topicResourceOnly answers a config resource that is not a TOPIC: broker configs are static,
// other types unsupported.
func topicResourceOnly(typ kmsg.ConfigResourceType) (int16, string) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return errNone, ""
	case kmsg.ConfigResourceTypeBroker:
		return errInvalidRequest, brokerConfigsStatic
	default:
		return errInvalidRequest, fmt.Sprintf("resource type %d (%s) is not supported: only TOPIC (2)", typ, typ)
	}
}

// alterTopicConfigsLocked checks the resource, asks next for the topic's new explicit config set
// (given a copy of the current one), validates it and, unless validateOnly, applies it. It returns
// the resource's error code and message. Shared by AlterConfigs and IncrementalAlterConfigs on a
// single node. Caller holds b.mu.
func (b *Broker) alterTopicConfigsLocked(typ kmsg.ConfigResourceType, name string, validateOnly bool,
	next func(current map[string]string) (map[string]string, int16, string)) (int16, string) {
	if code, msg := topicResourceOnly(typ); code != errNone {
		return code, msg
	}
	t := b.topics[name]
	switch {
	case !validTopicName(name):
		return errInvalidTopic, fmt.Sprintf("topic name %q is illegal", name)
	case t == nil:
		return errUnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", name)
	}
	current := make(map[string]string, len(t.configs))
	for k, v := range t.configs {
		current[k] = v
	}
	configs, code, msg := next(current)
	if code != errNone {
		return code, msg
	}
	cfg, err := topicLogConfig(b.cfg.LogDefaults, configs)
	if err != nil {
		return errInvalidConfig, err.Error()
	}
	if validateOnly {
		return errNone, ""
	}
	if err := b.setTopicConfigsLocked(t, configs, cfg); err != nil {
		return errKafkaStorage, fmt.Sprintf("topic %s: saving configs: %v", name, err)
	}
	b.logger.Info("altered topic configs", "topic", name, "configs", configs)
	return errNone, ""
}

// setTopicConfigsLocked makes configs (validated into cfg) t's explicit config set: it saves the
// topics file first, so a failed write changes nothing, then applies them to every running
// partition (log config, max.message.bytes, message.timestamp.type). Caller holds b.mu.
func (b *Broker) setTopicConfigsLocked(t *topic, configs map[string]string, cfg log.Config) error {
	old := t.configs
	t.configs = configs
	if err := b.saveTopicsLocked(); err != nil {
		t.configs = old
		return err
	}
	maxBytes := b.maxMessageBytes(configs)
	appendTime := configs["message.timestamp.type"] == "LogAppendTime"
	for _, p := range t.partitions {
		p.log.SetConfig(cfg)
		p.maxMessageBytes.Store(maxBytes)
		p.logAppendTime.Store(appendTime)
		if rp := p.replica.Load(); rp != nil {
			rp.SetConfig(b.replicaConfig(configs))
		}
	}
	return nil
}
