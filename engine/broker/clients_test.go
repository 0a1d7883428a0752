package broker

// Reference clients other than franz-go: librdkafka (kcat), kafka-python (Debian's python3-kafka)
// and sarama, each producing to and consuming from a running broker.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
)

// requireTool fails (never skips) when a reference client is missing: .ci/run installs them.
func requireTool(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err != nil {
		t.Fatalf("%s not installed (apt-get install kcat python3-kafka; .ci/run does this): %v", path, err)
	}
	return p
}

func runCmd(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstderr: %s", name, args, err, errb.String())
	}
	return out.String()
}

func TestKcatProduceConsumeMetadata(t *testing.T) {
	kcat := requireTool(t, "kcat")
	tb := startBroker(t, t.TempDir(), func(c *Config) { c.NumPartitions = 3 })
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("line-%03d", i))
	}
	// kcat -P auto-creates the topic through Metadata; acks=all, librdkafka's idempotence on.
	runCmd(t, strings.Join(lines, "\n")+"\n", kcat, "-b", tb.addr, "-P", "-t", "kcat-lines", "-X", "acks=all", "-X", "enable.idempotence=true")
	meta := runCmd(t, "", kcat, "-b", tb.addr, "-L", "-t", "kcat-lines")
	if !strings.Contains(meta, `topic "kcat-lines" with 3 partitions`) {
		t.Fatalf("kcat -L does not show the topic with 3 partitions:\n%s", meta)
	}
	out := runCmd(t, "", kcat, "-b", tb.addr, "-C", "-t", "kcat-lines", "-o", "beginning", "-e", "-q")
	got := strings.Fields(out)
	if len(got) != len(lines) {
		t.Fatalf("kcat consumed %d lines, want %d:\n%s", len(got), len(lines), out)
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, l := range lines {
		if !seen[l] {
			t.Fatalf("kcat did not consume %q", l)
		}
	}
}

const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(name="py-topic", num_partitions=2, replication_factor=1)])
p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
for i in range(100):
    p.send("py-topic", value=("py-%03d" % i).encode(), partition=i % 2)
p.flush()
c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
c.assign([TopicPartition("py-topic", 0), TopicPartition("py-topic", 1)])
vals = sorted(m.value.decode() for m in c)
print(len(vals), vals[0], vals[-1])
`

func TestKafkaPythonProduceConsume(t *testing.T) {
	py := requireTool(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		t.Fatalf("python3-kafka missing for /usr/bin/python3 (apt-get install python3-kafka): %v", err)
	}
	tb := startBroker(t, t.TempDir())
	script := t.TempDir() + "/client.py"
	if err := os.WriteFile(script, []byte(kafkaPythonScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(runCmd(t, "", py, script, tb.addr))
	if out != "100 py-000 py-099" {
		t.Fatalf("kafka-python consumed %q, want \"100 py-000 py-099\"", out)
	}
}

func TestSaramaProduceConsume(t *testing.T) {
	tb := startBroker(t, t.TempDir())
	if _, err := kadm.NewClient(tb.client()).CreateTopic(context.Background(), 2, 1, nil, "sarama-topic"); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 3
	prod, err := sarama.NewSyncProducer([]string{tb.addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer prod.Close()
	const n = 200
	for i := range n {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama-topic", Value: sarama.StringEncoder(fmt.Sprintf("s-%03d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cons, err := sarama.NewConsumer([]string{tb.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for p := range int32(2) {
		pc, err := cons.ConsumePartition("sarama-topic", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		hwm := pc.HighWaterMarkOffset()
		deadline := time.After(20 * time.Second)
		for count := int64(0); ; {
			if hwm > 0 && count >= hwm {
				break
			}
			select {
			case m := <-pc.Messages():
				seen[string(m.Value)] = true
				count++
				hwm = pc.HighWaterMarkOffset()
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-deadline:
				t.Fatalf("partition %d: consumed %d, high watermark %d", p, count, hwm)
			}
		}
		pc.Close()
	}
	if len(seen) != n {
		t.Fatalf("sarama consumed %d distinct messages, want %d", len(seen), n)
	}
}
