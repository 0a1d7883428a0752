//go:build compat

package compat

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consume reads n records from topic's start with a group-less franz-go consumer.
func consume(t *testing.T, b *broker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := b.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(250*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(out), n)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// produceSeq produces n records "seq-<i>" with franz-go (idempotent, its default) and acks=all.
func produceSeq(t *testing.T, b *broker, topic string, from, n int) {
	t.Helper()
	cl := b.client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx := context.Background()
	var failed atomic.Int64
	for i := from; i < from+n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: []byte("seq-" + strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d produces failed", f, n)
	}
}

// checkSeq asserts every "seq-i" for i < n was consumed exactly once, each partition in offset
// order with no gaps, and the producer's order kept within each partition.
func checkSeq(t *testing.T, recs []*kgo.Record, n int) {
	t.Helper()
	seen := make([]bool, n)
	nextOffset := map[int32]int64{}
	lastSeq := map[int32]int{}
	for _, r := range recs {
		i, err := strconv.Atoi(strings.TrimPrefix(string(r.Value), "seq-"))
		if err != nil || i >= n {
			t.Fatalf("unexpected value %q", r.Value)
		}
		if seen[i] {
			t.Fatalf("duplicate %q", r.Value)
		}
		seen[i] = true
		if r.Offset != nextOffset[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, nextOffset[r.Partition])
		}
		nextOffset[r.Partition]++
		if prev, ok := lastSeq[r.Partition]; ok && i < prev {
			t.Fatalf("partition %d: seq-%d after seq-%d: producer order lost", r.Partition, i, prev)
		}
		lastSeq[r.Partition] = i
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("seq-%d never consumed", i)
		}
	}
}

func TestFranzGo100kRecordsOver12PartitionsAndAdmin(t *testing.T) {
	b := startBroker(t, t.TempDir())
	adm := kadm.NewClient(b.client())
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 12, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	produceSeq(t, b, "big", 0, n)
	checkSeq(t, consume(t, b, "big", n), n)

	td, err := adm.DescribeTopicConfigs(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := td.On("big", nil); err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("3600000")}}, "big"); err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && c.Value != nil {
			got = *c.Value
		}
	}
	if got != "3600000" {
		t.Fatalf("retention.ms after alter = %q", got)
	}
	dr, err := adm.DeleteTopics(ctx, "big")
	if err != nil || dr["big"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr["big"].Err)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil || topics.Has("big") {
		t.Fatalf("topic still listed after delete: %v", err)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			b := startBroker(t, dir)
			if _, err := kadm.NewClient(b.client()).CreateTopic(context.Background(), 4, 1, nil, "restart"); err != nil {
				t.Fatal(err)
			}
			const n = 20_000
			produceSeq(t, b, "restart", 0, n)
			if how == "SIGTERM" {
				b.stop()
			} else {
				// Acknowledged data is in the page cache: a killed process loses none of it.
				b.cmd.Process.Signal(syscall.SIGKILL)
				<-b.done
				b.cmd = nil
			}
			b = startBroker(t, dir)
			checkSeq(t, consume(t, b, "restart", n), n)
			produceSeq(t, b, "restart", n, 1000) // and it goes on accepting writes
			checkSeq(t, consume(t, b, "restart", n+1000), n+1000)
		})
	}
}

func TestKcat100kLinesByteIdentical(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat not installed (.ci/run installs it): %v", err)
	}
	b := startBroker(t, t.TempDir())
	if _, err := kadm.NewClient(b.client()).CreateTopic(context.Background(), 1, 1, nil, "lines"); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 100_000 {
		fmt.Fprintf(&want, "line %06d %s\n", i, strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(60)))
	}
	path := filepath.Join(t.TempDir(), "lines.txt")
	if err := os.WriteFile(path, want.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, kcat, "-b", b.addr, "-P", "-t", "lines", "-l", path, "-X", "acks=all", "-X", "enable.idempotence=true")
	got := run(t, nil, kcat, "-b", b.addr, "-C", "-t", "lines", "-o", "beginning", "-e", "-q", "-D", "\n")
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("kcat read back %d bytes, wrote %d: not byte-identical", len(got), want.Len())
	}
	meta := string(run(t, nil, kcat, "-b", b.addr, "-L", "-t", "lines"))
	if !strings.Contains(meta, `topic "lines" with 1 partitions`) {
		t.Fatalf("kcat -L:\n%s", meta)
	}
}

const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
bootstrap = sys.argv[1]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
admin.create_topics([NewTopic(name="py-topic", num_partitions=3, replication_factor=1)])
p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
for i in range(5000):
    p.send("py-topic", key=str(i % 7).encode(), value=("py-%05d" % i).encode())
p.flush()
c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10000)
c.assign([TopicPartition("py-topic", i) for i in range(3)])
vals = sorted(m.value.decode() for m in c)
print(len(vals), len(set(vals)), vals[0], vals[-1])
`

func TestKafkaPythonProducerConsumer(t *testing.T) {
	py := "/usr/bin/python3" // Debian's python3-kafka belongs to this interpreter
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		t.Fatalf("python3-kafka missing for %s (.ci/run installs it): %v", py, err)
	}
	b := startBroker(t, t.TempDir())
	script := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(script, []byte(kafkaPythonScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(string(run(t, nil, py, script, b.addr)))
	if out != "5000 5000 py-00000 py-04999" {
		t.Fatalf("kafka-python: %q, want \"5000 5000 py-00000 py-04999\"", out)
	}
}

func TestSaramaSyncProducerPartitionConsumer(t *testing.T) {
	b := startBroker(t, t.TempDir())
	if _, err := kadm.NewClient(b.client()).CreateTopic(context.Background(), 3, 1, nil, "sarama"); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	prod, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 3000
	for i := range n {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Key: sarama.StringEncoder(strconv.Itoa(i % 11)), Value: sarama.StringEncoder(fmt.Sprintf("s-%05d", i))}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cons, err := sarama.NewConsumer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for p := range int32(3) {
		pc, err := cons.ConsumePartition("sarama", p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.After(60 * time.Second)
		for count := int64(0); count < pc.HighWaterMarkOffset() || count == 0; {
			select {
			case m := <-pc.Messages():
				if m.Offset != count {
					t.Fatalf("partition %d: offset %d, want %d", p, m.Offset, count)
				}
				seen[string(m.Value)] = true
				count++
			case err := <-pc.Errors():
				t.Fatal(err)
			case <-deadline:
				t.Fatalf("partition %d: %d consumed, high watermark %d", p, count, pc.HighWaterMarkOffset())
			}
		}
		pc.Close()
	}
	if len(seen) != n {
		t.Fatalf("sarama consumed %d distinct, want %d", len(seen), n)
	}
}

// TestBadInputWhileProducing: junk on other connections never disturbs a producing client, and
// the broker process stays up.
func TestBadInputWhileProducing(t *testing.T) {
	b := startBroker(t, t.TempDir())
	if _, err := kadm.NewClient(b.client()).CreateTopic(context.Background(), 2, 1, nil, "steady"); err != nil {
		t.Fatal(err)
	}
	prod := b.client(kgo.DefaultProduceTopic("steady"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var produced, failed atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := prod.ProduceSync(context.Background(), &kgo.Record{Value: []byte("steady")}).FirstErr(); err != nil {
				failed.Add(1)
			} else {
				produced.Add(1)
			}
		}
	}()
	frame := func(size int32, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(size)), body...)
	}
	header := func(key, version int16) []byte {
		h := binary.BigEndian.AppendUint16(nil, uint16(key))
		h = binary.BigEndian.AppendUint16(h, uint16(version))
		h = binary.BigEndian.AppendUint32(h, 7)
		return binary.BigEndian.AppendUint16(h, 0xffff) // null client id
	}
	rng := rand.New(rand.NewPCG(3, 4))
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	cases := map[string][]byte{
		"random bytes":        junk,
		"2 GiB size prefix":   frame(1<<31-1, []byte("xxxx")),
		"negative size":       frame(-5, nil),
		"truncated frame":     frame(100, header(0, 9)),
		"unknown api key":     frame(10, header(999, 0)),
		"unsupported version": frame(10, header(1, 99)),
		"garbage produce":     frame(int32(10+64), append(header(0, 9), junk[:64]...)),
	}
	for name, payload := range cases {
		for range 20 {
			conn, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: dial: %v", name, err)
			}
			conn.Write(payload)
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			var one [1]byte
			conn.Read(one[:]) // closed by the broker, or timed out for the truncated frame
			conn.Close()
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || produced.Load() == 0 {
		t.Fatalf("producer on a clean connection: %d ok, %d failed while junk was sent", produced.Load(), failed.Load())
	}
	if err := b.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("broker process is gone: %v", err)
	}
	checkN := int(produced.Load())
	if recs := consume(t, b, "steady", checkN); len(recs) < checkN {
		t.Fatalf("consumed %d of %d", len(recs), checkN)
	}
	b.stop() // and it still shuts down cleanly
}
