package broker

// IncrementalAlterConfigs: v0-1. For a TOPIC resource the operations apply in order to the topic's
// explicit config set: SET (0) sets a key, DELETE (1) returns it to the broker default (deleting
// an unset key is a no-op), APPEND (2) and SUBTRACT (3) add or remove comma-separated items of a
// list-valued config (only cleanup.policy; any other key is INVALID_CONFIG), starting from the
// effective value when the topic does not set it. The result is validated, saved and applied as in
// AlterConfigs (through the Raft controller in a cluster); ValidateOnly checks without applying. A null value for SET/APPEND/SUBTRACT, a key
// named twice in one resource, or an unknown operation is INVALID_REQUEST, as in Kafka.
//
// Deviations from Kafka: as in AlterConfigs, BROKER resources are INVALID_REQUEST (broker configs
// are static for now) and only TOPIC and BROKER resource types are understood.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/netio"
)

func init() { register(44, 0, 1, offLoop(handleIncrementalAlterConfigs)) }

func handleIncrementalAlterConfigs(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response {
	r := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	if l := b.link.Load(); l != nil {
		return l.incrementalAlterConfigs(r) // through the Raft controller (controller_ops.go)
	}
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rr := range r.Resources {
		rs := kmsg.NewIncrementalAlterConfigsResponseResource()
		rs.ResourceType, rs.ResourceName = rr.ResourceType, rr.ResourceName
		code, msg := b.alterTopicConfigsLocked(rr.ResourceType, rr.ResourceName, r.ValidateOnly, func(configs map[string]string) (map[string]string, int16, string) {
			return b.applyConfigOps(configs, rr.Configs)
		})
		if code != errNone {
			rs.ErrorCode, rs.ErrorMessage = code, strPtr(msg)
		}
		resp.Resources = append(resp.Resources, rs)
	}
	return resp
}

// applyConfigOps applies incremental operations to configs (a private copy of a topic's explicit
// set) and returns it, or the error code and message for the resource.
func (b *Broker) applyConfigOps(configs map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, int16, string) {
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return nil, errInvalidRequest, fmt.Sprintf("config %q is named more than once", op.Name)
		}
		seen[op.Name] = true
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return nil, errInvalidRequest, fmt.Sprintf("null value not supported for %s of %q", op.Op, op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			configs[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(configs, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			p := topicConfigDefaults[op.Name]
			if p == nil || p.typ != kmsg.ConfigTypeList {
				return nil, errInvalidConfig, fmt.Sprintf("cannot %s to %q: it is not a list-valued config", op.Op, op.Name)
			}
			items := splitConfigList(b.topicConfigValue(configs, op.Name))
			for _, v := range splitConfigList(*op.Value) {
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !slices.Contains(items, v) {
					items = append(items, v)
				} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
					items = slices.DeleteFunc(items, func(s string) bool { return s == v })
				}
			}
			configs[op.Name] = strings.Join(items, ",")
		default:
			return nil, errInvalidRequest, fmt.Sprintf("unknown config operation %d for %q", op.Op, op.Name)
		}
	}
	return configs, errNone, ""
}

// splitConfigList splits a list-valued config at commas, dropping blanks around and between items.
func splitConfigList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
