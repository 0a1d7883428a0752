package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeConfigsSources: `sluice serve` with one key from the properties file, one from a
// SLUICE_ variable and one from a flag — each set to Kafka's own default, so only provenance can
// tell them from defaults. Clients (kadm, and `sluice topic describe`) see the three as
// STATIC_BROKER_CONFIG, the keys left alone as DEFAULT_CONFIG and a topic's own setting as
// DYNAMIC_TOPIC_CONFIG, as --print-config shows FILE, ENV, FLAG and DEFAULT.
func TestDescribeConfigsSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(file, []byte("log.segment.bytes=1073741824\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := loadServe([]string{
		"--config", file, "--listeners=PLAINTEXT://127.0.0.1:0", "--admin.listener=", "--log.dirs=" + filepath.Join(dir, "data"),
		"--group.initial.rebalance.delay.ms=0", "--message.max.bytes=1048588",
	}, envOf(map[string]string{"SLUICE_LOG_RETENTION_BYTES": "-1"}))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"log.segment.bytes": "FILE", "log.retention.bytes": "ENV", "message.max.bytes": "FLAG", "num.partitions": "DEFAULT"} {
		for _, r := range inv.effectiveSettings().Settings {
			if r.Key == key && r.Source != want {
				t.Errorf("--print-config: %s from %s, want %s", key, r.Source, want)
			}
		}
	}
	p := startRealServeConfig(t, inv.cfg)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	retention := "3600000"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &retention}, "sourced"); err != nil {
		t.Fatal(err)
	}
	brcs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	brc, err := brcs.On("0", nil)
	if err != nil || brc.Err != nil {
		t.Fatalf("describe broker 0: %v %v", err, brc.Err)
	}
	sources := map[string]kmsg.ConfigSource{}
	for _, c := range brc.Configs {
		sources[c.Key] = c.Source
	}
	for key, want := range map[string]kmsg.ConfigSource{
		"log.segment.bytes":                kmsg.ConfigSourceStaticBrokerConfig, // file
		"log.retention.bytes":              kmsg.ConfigSourceStaticBrokerConfig, // environment
		"message.max.bytes":                kmsg.ConfigSourceStaticBrokerConfig, // flag
		"log.dirs":                         kmsg.ConfigSourceStaticBrokerConfig, // flag
		"group.initial.rebalance.delay.ms": kmsg.ConfigSourceStaticBrokerConfig, // flag
		"num.partitions":                   kmsg.ConfigSourceDefaultConfig,
		"offsets.retention.minutes":        kmsg.ConfigSourceDefaultConfig,
		"replica.lag.time.max.ms":          kmsg.ConfigSourceDefaultConfig,
		"node.id":                          kmsg.ConfigSourceDefaultConfig,
		"log.retention.ms":                 kmsg.ConfigSourceDefaultConfig,
	} {
		if got, ok := sources[key]; !ok || got != want {
			t.Errorf("broker config %s from %v, want %v", key, got, want)
		}
	}

	// sarama (the other Go client, as the Java AdminClient: synonyms from DescribeConfigs v1+).
	scfg := sarama.NewConfig()
	scfg.Version = sarama.V3_6_0_0
	sadm, err := sarama.NewClusterAdmin([]string{p.kafkaAddr}, scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sadm.Close()
	results, err := sadm.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.BrokerResource, Name: "0",
		ConfigNames: []string{"log.segment.bytes", "num.partitions"}}}, sarama.DescribeConfigsOptions{IncludeSynonyms: true})
	if err != nil || len(results) != 1 || results[0].ErrorCode != 0 {
		t.Fatalf("sarama describe configs: %v %+v", err, results)
	}
	got := map[string]sarama.ConfigSource{}
	for _, e := range results[0].Configs {
		got[e.Name] = e.Source
		if e.Name == "log.segment.bytes" && (len(e.Synonyms) != 2 || e.Synonyms[0].Source != sarama.SourceStaticBroker || e.Synonyms[1].Source != sarama.SourceDefault) {
			t.Errorf("sarama: log.segment.bytes synonyms %+v, want the static setting then the default", e.Synonyms)
		}
	}
	if got["log.segment.bytes"] != sarama.SourceStaticBroker || got["num.partitions"] != sarama.SourceDefault {
		t.Errorf("sarama: sources %v, want log.segment.bytes static and num.partitions default", got)
	}

	// `sluice topic describe` shows the same sources in its configs column.
	out := sluiceAt(t, p.kafkaAddr, "", "topic", "describe", "sourced")
	for _, want := range []string{
		`segment.bytes\s+1073741824\s+STATIC_BROKER_CONFIG`,
		`retention.bytes\s+-1\s+STATIC_BROKER_CONFIG`,
		`max.message.bytes\s+1048588\s+STATIC_BROKER_CONFIG`,
		`retention.ms\s+3600000\s+DYNAMIC_TOPIC_CONFIG`,
		`segment.ms\s+604800000\s+DEFAULT_CONFIG`,
	} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(out) {
			t.Errorf("topic describe lacks %s:\n%s", want, out)
		}
	}
}
