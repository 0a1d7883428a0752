package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRebalanceOneToFour grows a group from 1 to 4 franz-go members on a 12-partition topic and
// asserts that after each join the partitions are split with no overlap. It logs how long each
// rebalance took (join to a complete split) — figures for results/groups.md, not pass/fail:
//
//	go test -run TestRebalanceOneToFour -v -count 5 ./engine/broker | grep rebalance
func TestRebalanceOneToFour(t *testing.T) {
	for _, balancer := range []string{"eager", "cooperative-sticky"} {
		t.Run(balancer, func(t *testing.T) {
			tb := startBroker(t, t.TempDir())
			topic := "rebalance-" + balancer
			if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 12, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			opt := kgo.Balancers(kgo.RangeBalancer())
			if balancer == "cooperative-sticky" {
				opt = kgo.Balancers(kgo.CooperativeStickyBalancer())
			}
			var members []*groupConsumer
			for i := range 4 {
				start := time.Now()
				members = append(members, startGroupConsumer(t, tb, "g-"+balancer, topic, fmt.Sprintf("m%d", i), opt))
				waitFor(t, fmt.Sprintf("%d members splitting 12 partitions", i+1), func() (bool, string) { return splitAmong(members, 12) })
				t.Logf("rebalance %s: %d→%d members split 12 partitions in %v", balancer, i, i+1, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
