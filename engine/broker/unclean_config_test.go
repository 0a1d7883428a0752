package broker

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// unclean.leader.election.enable, Kafka's topic config and broker key: a topic may set it (a
// boolean, anything else is INVALID_CONFIG), DescribeConfigs reports the topic's value as
// DYNAMIC_TOPIC_CONFIG and the broker default (false, or what the operator set) otherwise. The
// controller's policy reads the topic configs through meta.Policy.Unclean (engine/meta tests).
func TestUncleanLeaderElectionConfig(t *testing.T) {
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.UncleanLeaderElection = true })
	ctx := context.Background()
	adm := kadm.NewClient(tb.client())
	off := "false"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"unclean.leader.election.enable": &off}, "careful"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "inherits"); err != nil {
		t.Fatal(err)
	}
	bad := "yes"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"unclean.leader.election.enable": &bad}, "bad"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("unclean.leader.election.enable=yes: %v, want INVALID_CONFIG", err)
	}
	const key = "unclean.leader.election.enable"
	wantConfig(t, topicConfigs(t, adm, "careful"), key, "false", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, topicConfigs(t, adm, "inherits"), key, "true", kmsg.ConfigSourceStaticBrokerConfig)
}
