package main

// sluice produce: records from stdin, one per line (or per --delimiter), through kgo.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce limits.
const (
	// produceRecordBytesMax is the longest input record produce reads; the broker's
	// message.max.bytes (1 MiB by default) refuses far smaller batches first.
	produceRecordBytesMax = 64 << 20
)

// Partitioners, by their --partitioner names.
const (
	partitionerKeyHash    = "key-hash"
	partitionerRoundRobin = "round-robin"
	partitionerSticky     = "sticky"
	partitionerManual     = "manual"
)

func (c *cli) produceCommand() *cobra.Command {
	var (
		keyDelim, delim, key, partitioner, acks, compression, format string
		headers                                                      []string
		partition                                                    int32
		allowAutoCreate                                              bool
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records from stdin, one per line",
		Long: `Produce records read from stdin: one record per line, or per --delimiter.

With --key-delimiter, each record is KEY<delimiter>VALUE, split at the first
delimiter; a record without one has no key. --key gives every record the same
key instead. Delimiters understand the escapes \n, \t, \r, \0 and \\.

Partitioners (--partitioner):
  key-hash     records with equal keys go to one partition (murmur2, as Kafka's
               Java client); records without a key stick to one partition per
               batch. The default.
  round-robin  record i goes to partition i mod the partition count.
  sticky       every record goes to one partition until its batch is full, then
               to another, keys or not.
  manual       every record goes to partition -p N (giving -p implies manual).

Output: nothing, unless --format prints a line for each acknowledged record with
the verbs of 'sluice consume --format' (%p partition, %o offset, ...) or as json.
The topic must exist unless --allow-auto-topic-creation.`,
		Example: `  printf 'a\nb\n' | sluice produce orders
  printf 'k1=v1\nk2=v2\n' | sluice produce orders --key-delimiter =
  seq 100 | sluice produce orders --partitioner round-robin
  echo hello | sluice produce orders -p 2 -H source=cli --format '%p %o'`,
		Args: exactArgs(1, "one topic name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if cmd.Flags().Changed("partition") && !cmd.Flags().Changed("partitioner") {
				partitioner = partitionerManual
			}
			// A record not acknowledged within --timeout fails (kgo would retry it forever while
			// the broker is away).
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(c.timeout)}
			switch partitioner {
			case partitionerKeyHash:
				opts = append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
			case partitionerRoundRobin:
				opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			case partitionerSticky:
				opts = append(opts, kgo.RecordPartitioner(kgo.StickyPartitioner()))
			case partitionerManual:
				if partition < 0 {
					return usageErrorf("--partitioner manual needs -p N")
				}
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			default:
				return usageErrorf("--partitioner %q: want key-hash, round-robin, sticky or manual", partitioner)
			}
			if partitioner != partitionerManual && cmd.Flags().Changed("partition") {
				return usageErrorf("-p N goes with --partitioner manual, not %s", partitioner)
			}
			switch acks {
			case "all", "-1":
			case "1", "leader":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0", "none":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return usageErrorf("--acks %q: want all, 1 or 0", acks)
			}
			codec, err := compressionCodec(compression)
			if err != nil {
				return err
			}
			opts = append(opts, kgo.ProducerBatchCompression(codec))
			if allowAutoCreate {
				opts = append(opts, kgo.AllowAutoTopicCreation())
			}
			kd, err := unescape(keyDelim)
			if err != nil {
				return usageErrorf("--key-delimiter: %v", err)
			}
			rd, err := unescape(delim)
			if err != nil {
				return usageErrorf("--delimiter: %v", err)
			}
			if rd == "" {
				return usageErrorf("--delimiter must not be empty")
			}
			if key != "" && kd != "" {
				return usageErrorf("--key and --key-delimiter do not go together")
			}
			hdrs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			var pr *recordPrinter
			if format != "" {
				if pr, err = newRecordPrinter(format); err != nil {
					return err
				}
			}

			cl, err := c.newClient(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			if !allowAutoCreate {
				if err := c.checkPartition(cmd.Context(), cl, topic, partition, partitioner == partitionerManual); err != nil {
					return err
				}
			}

			p := &producer{cl: cl, out: c.out, pr: pr}
			sc := bufio.NewScanner(c.in)
			sc.Buffer(make([]byte, 0, 64<<10), produceRecordBytesMax)
			sc.Split(splitOn([]byte(rd)))
			for sc.Scan() {
				line := sc.Bytes()
				r := &kgo.Record{Topic: topic, Headers: hdrs, Partition: partition}
				switch {
				case kd != "":
					if k, v, ok := bytes.Cut(line, []byte(kd)); ok {
						r.Key, r.Value = bytes.Clone(k), bytes.Clone(v)
					} else {
						r.Value = bytes.Clone(line)
					}
				default:
					r.Value = bytes.Clone(line)
				}
				if key != "" && kd == "" {
					r.Key = []byte(key)
				}
				p.produce(cmd.Context(), r)
			}
			readErr := sc.Err()
			if err := cl.Flush(cmd.Context()); err != nil && readErr == nil {
				readErr = err
			}
			return p.finish(c, readErr)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&keyDelim, "key-delimiter", "K", "", "split each record into KEY<delimiter>VALUE at the first occurrence")
	f.StringVarP(&delim, "delimiter", "D", "\n", "what separates records in the input")
	f.StringVarP(&key, "key", "k", "", "the key of every record (without --key-delimiter)")
	f.StringArrayVarP(&headers, "header", "H", nil, "header KEY=VALUE on every record; repeat for more")
	f.StringVar(&partitioner, "partitioner", partitionerKeyHash, "key-hash, round-robin, sticky or manual")
	f.Int32VarP(&partition, "partition", "p", -1, "the partition of every record (implies --partitioner manual)")
	f.StringVar(&acks, "acks", "all", "acknowledgements to wait for: all, 1 (leader) or 0 (none)")
	f.StringVarP(&compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVarP(&format, "format", "f", "", "print each acknowledged record with this format (see consume), or json")
	f.BoolVar(&allowAutoCreate, "allow-auto-topic-creation", false, "let the broker create a missing topic (auto.create.topics.enable)")
	return cmd
}

// producer sends records asynchronously and gathers their outcomes. With a printer, it prints
// the acknowledgements in input order, whatever order the partitions complete in.
type producer struct {
	cl  *kgo.Client
	out io.Writer
	pr  *recordPrinter

	mu       sync.Mutex // guards the fields below; promises run on kgo's goroutines
	sent     int
	failed   int
	firstErr error
	printed  int            // records printed (or skipped as failed), in input order
	pending  map[int][]byte // printed lines of records acknowledged ahead of an earlier one; nil: failed
}

func (p *producer) produce(ctx context.Context, r *kgo.Record) {
	p.mu.Lock()
	seq := p.sent
	p.sent++
	p.mu.Unlock()
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		var line []byte
		if err != nil {
			p.failed++
			if p.firstErr == nil {
				p.firstErr = err
			}
		} else if p.pr != nil {
			line = p.pr.appendRecord(nil, r)
		}
		if p.pr == nil {
			return
		}
		if p.pending == nil {
			p.pending = make(map[int][]byte)
		}
		p.pending[seq] = line
		for {
			l, ok := p.pending[p.printed]
			if !ok {
				break
			}
			_, _ = p.out.Write(l)
			delete(p.pending, p.printed)
			p.printed++
		}
	})
}

// finish reports the outcome once every record is acknowledged or failed.
func (p *producer) finish(c *cli, readErr error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed > 0 {
		return fmt.Errorf("%d of %d records were not produced: %w", p.failed, p.sent, c.explain(p.firstErr))
	}
	if readErr != nil {
		return fmt.Errorf("after %d records: %w", p.sent, c.explain(readErr))
	}
	return nil
}

// checkPartition fails early, and with a helpful message, when the topic does not exist or a
// manual partition is out of its range (kgo would otherwise retry for a while, then fail each
// record).
func (c *cli) checkPartition(ctx context.Context, cl *kgo.Client, topic string, partition int32, manual bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	parts, err := c.topicPartitions(ctx, kadm.NewClient(cl), topic) // not closed: that would close cl
	if err != nil {
		return err
	}
	if n := int32(len(parts[topic])); manual && partition >= n {
		return fmt.Errorf("topic %s has %d partitions (0-%d), not %d; add some with: sluice topic add-partitions %s --to %d",
			topic, n, n-1, partition, topic, partition+1)
	}
	return nil
}

// splitOn is a bufio.SplitFunc that splits at delim; a final record needs no delimiter after it.
func splitOn(delim []byte) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (advance int, token []byte, err error) {
		if i := bytes.Index(data, delim); i >= 0 {
			return i + len(delim), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
}

// unescape turns the escapes \n, \t, \r, \0 and \\ in a delimiter or format into their bytes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends in a lone backslash", s)
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case '\\':
			b.WriteByte('\\')
		default:
			return "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}

func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usageErrorf("-H %q: want KEY=VALUE", h)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, usageErrorf("--compression %q: want none, gzip, snappy, lz4 or zstd", name)
}
