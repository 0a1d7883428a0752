package main

// sluice consume: records to stdout in a format, from an offset or a time, alone or in a group.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consume limits.
const (
	// consumePollRecordsMax bounds the records one poll hands over, so -n stops on time and a
	// slow stdout holds back the fetches rather than memory.
	consumePollRecordsMax = 1000
	// groupCommitTimeout bounds the final offset commit of a group consumer on its way out.
	groupCommitTimeout = 5 * time.Second
)

func (c *cli) consumeCommand() *cobra.Command {
	var (
		offsetFlag, group, format string
		partitions                []int32
		num                       int
		exitAtEnd                 bool
	)
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Consume records and print them",
		Long: `Consume records and print each one with --format (its value by default).

Where to start (--offset): start (the default), end, an offset N, -N for N records
before the end of each partition, or @TIME: the first record at or after TIME,
given in ms since the epoch, as RFC 3339 (2024-05-01T12:00:00Z), as a date
(2024-05-01, UTC), or as -DURATION before now (@-1h30m).

Without --group, every partition (or those of --partitions) is read from that
offset. With --group, the topics are consumed as a member of the consumer group:
partitions are assigned by the group, reading resumes from the group's committed
offsets (--offset applies where there is none), and the offsets of the records
printed are committed.

consume runs until -n records are printed, until the end offsets of the moment it
started are reached (-e), or until interrupted (Ctrl-C), which commits and leaves
the group cleanly.

Format verbs:
  %v value        %k key            %T topic         %p partition
  %o offset       %t timestamp (ms since the epoch)  %d timestamp (RFC 3339, UTC)
  %h headers (k=v,k=v)              %V value length  %K key length
  %%  a percent sign; \n \t \r \0 \\ escapes
A newline follows each record unless the format ends with one. --format json
prints one JSON object per record (topic, partition, offset, timestamp, key,
value, headers; key null when there is none).`,
		Example: `  sluice consume orders -n 2
  sluice consume orders --offset end --format '%p %o %k=%v'
  sluice consume orders --offset @-10m -e --format json
  sluice consume orders --group billing`,
		Args: minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if num < 0 {
				return usageErrorf("-n must not be negative")
			}
			start, err := parseOffsetSpec(offsetFlag, time.Now())
			if err != nil {
				return usageErrorf("--offset %q: %v", offsetFlag, err)
			}
			pr, err := newRecordPrinter(format)
			if err != nil {
				return err
			}
			if group != "" && len(partitions) > 0 {
				return usageErrorf("--partitions and --group do not go together: the group assigns partitions")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); stop() }() // a second signal kills

			parts, ends, starts, err := c.consumeRange(ctx, topics, partitions, start, group, exitAtEnd)
			if err != nil {
				return err
			}

			var opts []kgo.Opt
			if group != "" {
				opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topics...),
					kgo.ConsumeStartOffset(start.kgoOffset()), kgo.AutoCommitMarks())
			} else {
				m := make(map[string]map[int32]kgo.Offset, len(parts))
				for t, ps := range parts {
					m[t] = make(map[int32]kgo.Offset, len(ps))
					for _, p := range ps {
						o := start.kgoOffset()
						if starts != nil {
							o = kgo.NewOffset().At(starts[t][p])
						}
						m[t][p] = o
					}
				}
				opts = append(opts, kgo.ConsumePartitions(m))
			}
			cl, err := c.newClient(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			err = consumeLoop(ctx, cl, c, pr, num, ends, starts)
			if group != "" {
				cctx, cancel := context.WithTimeout(context.Background(), groupCommitTimeout)
				if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
					err = fmt.Errorf("committing the offsets of group %s: %w", group, c.explain(cerr))
				}
				cancel()
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&offsetFlag, "offset", "o", "start", "where to start: start, end, N, -N or @TIME")
	f.Int32SliceVarP(&partitions, "partitions", "p", nil, "consume only these partitions (comma-separated)")
	f.IntVarP(&num, "num", "n", 0, "stop after this many records (0: no limit)")
	f.BoolVarP(&exitAtEnd, "exit-at-end", "e", false, "stop at the end offsets of the moment consume started")
	f.StringVarP(&group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
	f.StringVarP(&format, "format", "f", "%v", "how to print each record: verbs below, or json")
	return cmd
}

// consumeLoop prints records until num are printed (0: no limit), every partition reaches its
// end in ends (nil: no end), or ctx is done (not an error: that is how a follower stops).
func consumeLoop(ctx context.Context, cl *kgo.Client, c *cli, pr *recordPrinter, num int, ends, starts map[string]map[int32]int64) error {
	w := bufio.NewWriter(c.out)
	defer w.Flush()
	remaining := num
	// open: the partitions still short of their end (only with -e).
	open := 0
	for t, ps := range ends {
		for p, end := range ps {
			if starts[t][p] < end {
				open++
			}
		}
	}
	var buf []byte
	for {
		if num > 0 && remaining == 0 || ends != nil && open == 0 {
			return nil
		}
		max := consumePollRecordsMax
		if num > 0 && remaining < max {
			max = remaining
		}
		fetches := cl.PollRecords(ctx, max)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			switch {
			case ferr != nil, errors.Is(err, context.Canceled):
			case t == "": // not about one partition: joining the group, say
				ferr = c.explain(err)
			default:
				ferr = fmt.Errorf("topic %s partition %d: %w", t, p, c.explain(err))
			}
		})
		if ferr != nil {
			return ferr
		}
		fetches.EachRecord(func(r *kgo.Record) {
			if ends != nil {
				end := ends[r.Topic][r.Partition]
				if r.Offset >= end {
					return // written after consume started
				}
				if r.Offset+1 == end {
					open--
				}
			}
			if num > 0 {
				if remaining == 0 {
					return
				}
				remaining--
			}
			buf = pr.appendRecord(buf[:0], r)
			_, _ = w.Write(buf)
			cl.MarkCommitRecords(r) // a no-op without a group
		})
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// consumeRange looks up the partitions to consume (all of each topic's, or the ones asked for)
// and, for -e, where each starts and ends: the end offsets of now, and the start as resolveRange
// finds it (a partition whose start is at its end is done from the start).
func (c *cli) consumeRange(ctx context.Context, topics []string, only []int32, start offsetSpec, group string, exitAtEnd bool) (parts map[string][]int32, ends, starts map[string]map[int32]int64, err error) {
	adm, err := c.admin()
	if err != nil {
		return nil, nil, nil, err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if parts, err = c.topicPartitions(ctx, adm, topics...); err != nil {
		return nil, nil, nil, err
	}
	if len(only) > 0 {
		for _, t := range topics {
			for _, p := range only {
				if !containsInt32(parts[t], p) {
					return nil, nil, nil, fmt.Errorf("topic %s has no partition %d (it has %d)", t, p, len(parts[t]))
				}
			}
			parts[t] = only
		}
	}
	if exitAtEnd {
		if ends, starts, err = c.resolveRange(ctx, adm, parts, start, group); err != nil {
			return nil, nil, nil, err
		}
	}
	return parts, ends, starts, nil
}

// offsetSpec is a parsed --offset (consume) or --to (group seek).
type offsetSpec struct {
	kind offsetKind
	n    int64 // the offset (exact), the count (fromEnd) or ms since the epoch (time)
}

type offsetKind int

const (
	offsetStart offsetKind = iota
	offsetEnd
	offsetExact
	offsetFromEnd
	offsetTime
)

// parseOffsetSpec parses start, end, N, -N or @TIME (see consume's help).
func parseOffsetSpec(s string, now time.Time) (offsetSpec, error) {
	switch s {
	case "start", "beginning", "earliest", "oldest":
		return offsetSpec{kind: offsetStart}, nil
	case "end", "latest", "newest":
		return offsetSpec{kind: offsetEnd}, nil
	}
	if ts, ok := strings.CutPrefix(s, "@"); ok {
		ms, err := parseTime(ts, now)
		if err != nil {
			return offsetSpec{}, err
		}
		return offsetSpec{kind: offsetTime, n: ms}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return offsetSpec{}, errors.New("want start, end, an offset N, -N (N before the end) or @TIME")
	}
	if n < 0 {
		return offsetSpec{kind: offsetFromEnd, n: -n}, nil
	}
	return offsetSpec{kind: offsetExact, n: n}, nil
}

// parseTime parses ms since the epoch, RFC 3339, a date (UTC) or -DURATION before now.
func parseTime(s string, now time.Time) (int64, error) {
	if d, ok := strings.CutPrefix(s, "-"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return 0, fmt.Errorf("@-DURATION: %v", err)
		}
		return now.Add(-dur).UnixMilli(), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("time %q: want ms since the epoch, RFC 3339, YYYY-MM-DD or -DURATION", s)
}

func (o offsetSpec) kgoOffset() kgo.Offset {
	switch o.kind {
	case offsetEnd:
		return kgo.NewOffset().AtEnd()
	case offsetExact:
		return kgo.NewOffset().At(o.n)
	case offsetFromEnd:
		return kgo.NewOffset().AtEnd().Relative(-o.n)
	case offsetTime:
		return kgo.NewOffset().AfterMilli(o.n)
	}
	return kgo.NewOffset().AtStart()
}

// resolve turns the spec into an offset for each partition, given its log start and end
// offsets (and, for @TIME, the offsets ListOffsets found for the time), clamped into the log.
func (o offsetSpec) resolve(start, end int64, atTime kadm.ListedOffsets, t string, p int32) int64 {
	var off int64
	switch o.kind {
	case offsetStart:
		off = start
	case offsetEnd:
		off = end
	case offsetExact:
		off = o.n
	case offsetFromEnd:
		off = end - o.n
	case offsetTime:
		off = end
		if lo, ok := atTime.Lookup(t, p); ok && lo.Err == nil && lo.Offset >= 0 {
			off = lo.Offset
		}
	}
	return min(max(off, start), end)
}

// resolveRange returns the end offset of every partition and where consuming starts in it: the
// group's committed offset when there is one, else the spec resolved.
func (c *cli) resolveRange(ctx context.Context, adm *kadm.Client, parts map[string][]int32, spec offsetSpec, group string) (ends, starts map[string]map[int32]int64, err error) {
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	lstarts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, c.explain(err)
	}
	lends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, c.explain(err)
	}
	var atTime kadm.ListedOffsets
	if spec.kind == offsetTime {
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, spec.n, topics...); err != nil {
			return nil, nil, c.explain(err)
		}
	}
	var committed kadm.OffsetResponses
	if group != "" {
		if committed, err = adm.FetchOffsetsForTopics(ctx, group, topics...); err != nil {
			return nil, nil, fmt.Errorf("fetching the offsets of group %s: %w", group, c.explain(err))
		}
	}
	ends = make(map[string]map[int32]int64, len(parts))
	starts = make(map[string]map[int32]int64, len(parts))
	for t, ps := range parts {
		ends[t], starts[t] = make(map[int32]int64, len(ps)), make(map[int32]int64, len(ps))
		for _, p := range ps {
			s, ok1 := lstarts.Lookup(t, p)
			e, ok2 := lends.Lookup(t, p)
			switch {
			case !ok1 || !ok2:
				return nil, nil, fmt.Errorf("topic %s partition %d: no offsets listed", t, p)
			case s.Err != nil:
				return nil, nil, fmt.Errorf("topic %s partition %d: %w", t, p, s.Err)
			case e.Err != nil:
				return nil, nil, fmt.Errorf("topic %s partition %d: %w", t, p, e.Err)
			}
			ends[t][p] = e.Offset
			starts[t][p] = spec.resolve(s.Offset, e.Offset, atTime, t, p)
			if o, ok := committed.Lookup(t, p); ok && o.Err == nil && o.At >= 0 {
				starts[t][p] = min(max(o.At, s.Offset), e.Offset)
			}
		}
	}
	return ends, starts, nil
}

func containsInt32(ns []int32, n int32) bool {
	for _, x := range ns {
		if x == n {
			return true
		}
	}
	return false
}

// recordPrinter prints records in a --format: a template of verbs, or JSON.
type recordPrinter struct {
	json  bool
	parts []formatPart // the template, parsed
}

// formatPart is literal text or one verb.
type formatPart struct {
	lit  string
	verb byte // 0 for literal text
}

func newRecordPrinter(format string) (*recordPrinter, error) {
	if format == "json" {
		return &recordPrinter{json: true}, nil
	}
	f, err := unescape(format)
	if err != nil {
		return nil, usageErrorf("--format: %v", err)
	}
	if !strings.HasSuffix(f, "\n") {
		f += "\n"
	}
	var parts []formatPart
	var lit strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			lit.WriteByte(f[i])
			continue
		}
		if i+1 == len(f) {
			return nil, usageErrorf("--format %q ends in a lone %%", format)
		}
		i++
		switch v := f[i]; v {
		case '%':
			lit.WriteByte('%')
		case 'v', 'k', 'T', 'p', 'o', 't', 'd', 'h', 'V', 'K':
			if lit.Len() > 0 {
				parts = append(parts, formatPart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, formatPart{verb: v})
		default:
			return nil, usageErrorf("--format: unknown verb %%%c (see sluice consume --help)", v)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, formatPart{lit: lit.String()})
	}
	return &recordPrinter{parts: parts}, nil
}

// appendRecord appends r as printed to dst.
func (pr *recordPrinter) appendRecord(dst []byte, r *kgo.Record) []byte {
	if pr.json {
		return appendRecordJSON(dst, r)
	}
	for _, part := range pr.parts {
		switch part.verb {
		case 0:
			dst = append(dst, part.lit...)
		case 'v':
			dst = append(dst, r.Value...)
		case 'k':
			dst = append(dst, r.Key...)
		case 'T':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 't':
			dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
		case 'd':
			dst = r.Timestamp.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		case 'V':
			dst = strconv.AppendInt(dst, int64(len(r.Value)), 10)
		case 'K':
			dst = strconv.AppendInt(dst, int64(len(r.Key)), 10)
		}
	}
	return dst
}

// recordJSON is a record as --format json prints it. Keys and values that are not UTF-8 text
// are printed with invalid bytes replaced (U+FFFD), like any JSON string.
type recordJSON struct {
	Topic     string           `json:"topic"`
	Partition int32            `json:"partition"`
	Offset    int64            `json:"offset"`
	Timestamp int64            `json:"timestamp"`
	Key       *string          `json:"key"`
	Value     *string          `json:"value"`
	Headers   []recordHeaderJS `json:"headers"`
}

type recordHeaderJS struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func appendRecordJSON(dst []byte, r *kgo.Record) []byte {
	j := recordJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Timestamp: r.Timestamp.UnixMilli(), Headers: []recordHeaderJS{}}
	if r.Key != nil {
		k := toText(r.Key)
		j.Key = &k
	}
	if r.Value != nil {
		v := toText(r.Value)
		j.Value = &v
	}
	for _, h := range r.Headers {
		j.Headers = append(j.Headers, recordHeaderJS{h.Key, toText(h.Value)})
	}
	b, err := json.Marshal(j)
	if err != nil {
		panic(fmt.Sprintf("BUG: marshalling a record: %v", err))
	}
	return append(append(dst, b...), '\n')
}

func toText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
