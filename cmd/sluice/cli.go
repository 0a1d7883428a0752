package main

// What every client command shares: where the brokers are, the franz-go clients, errors worded
// for the operator, and the two output formats (tables for people, JSON for scripts).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Client defaults and limits.
const (
	defaultBrokers = "127.0.0.1:9092"
	brokersEnv     = "SLUICE_BROKERS"
	clientID       = "sluice-cli"
	// defaultRequestTimeout bounds each admin command and each metadata lookup (--timeout).
	defaultRequestTimeout = 10 * time.Second
	// dialTimeout: a broker that does not accept within this is reported unreachable.
	dialTimeout = 5 * time.Second
	// requestRetries bounds kgo's retries of a failed request (it retries 20 times by default,
	// which leaves a command against a stopped broker hanging until --timeout).
	requestRetries = 3
)

// cli is one run of the command line: its streams, environment and global flags.
type cli struct {
	in        io.Reader
	out       io.Writer
	errOut    io.Writer
	lookupEnv func(string) (string, bool)
	envNames  func() []string // the environment's variable names; nil: unknown (serve's check)

	brokersFlag string        // --brokers
	timeout     time.Duration // --timeout
}

// brokers are the seed brokers: --brokers, else $SLUICE_BROKERS, else 127.0.0.1:9092.
func (c *cli) brokers() []string {
	list := c.brokersFlag
	if list == "" {
		if v, ok := c.lookupEnv(brokersEnv); ok && strings.TrimSpace(v) != "" {
			list = v
		} else {
			list = defaultBrokers
		}
	}
	var out []string
	for _, b := range strings.Split(list, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// newClient opens a franz-go client on the seed brokers. It dials lazily: connection errors
// surface from the first request (see explain).
func (c *cli) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(c.brokers()...),
		kgo.ClientID(clientID),
		kgo.DialTimeout(dialTimeout),
		kgo.RequestRetries(requestRetries),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, usageErrorf("brokers %s: %v", strings.Join(c.brokers(), ","), err)
	}
	return cl, nil
}

// admin opens a kadm client; close it with Close.
func (c *cli) admin() (*kadm.Client, error) {
	cl, err := c.newClient()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(c.timeout / time.Millisecond))
	return adm, nil
}

// requestContext bounds one admin command by --timeout.
func (c *cli) requestContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), c.timeout)
}

// explain rewords a request error for the operator: the brokers it could not reach, or the
// deadline it ran out of.
// adminRequest opens an admin client and a request context bounded by --timeout: what every
// admin command starts with. done closes both.
func (c *cli) adminRequest(cmd *cobra.Command) (context.Context, *kadm.Client, func(), error) {
	adm, err := c.admin()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := c.requestContext(cmd)
	return ctx, adm, func() { cancel(); adm.Close() }, nil
}

func (c *cli) explain(err error) error {
	if err == nil {
		return nil
	}
	brokers := strings.Join(c.brokers(), ",")
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach the brokers at %s (set --brokers or %s): %w", brokers, brokersEnv, err)
	case strings.Contains(err.Error(), "broker is too old"), strings.Contains(err.Error(), "request key is unknown"):
		return fmt.Errorf("the broker at %s does not serve this request yet: %w", brokers, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from the brokers at %s within %v (--timeout): %w", brokers, c.timeout, err)
	}
	return err
}

// topicError words a per-topic error from the broker, with the command that helps.
func topicError(topic string, err error, msg string) error {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return fmt.Errorf("topic %s does not exist; create it with: sluice topic create %s", topic, topic)
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("topic %s already exists; see it with: sluice topic describe %s", topic, topic)
	}
	return fmt.Errorf("topic %s: %s", topic, kafkaErrorText(err, msg))
}

// kafkaErrorText is a Kafka error as "NAME: the broker's message", or "NAME: description" when
// the broker sent none.
func kafkaErrorText(err error, msg string) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		if msg != "" {
			return err.Error() + ": " + msg
		}
		return err.Error()
	}
	if msg != "" {
		return ke.Message + ": " + msg
	}
	return ke.Message + ": " + ke.Description
}

// errorCode is the Kafka name of a per-item error for a STATUS column: "OK" for nil.
func errorCode(err error) string {
	if err == nil {
		return "OK"
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return "ERROR"
}

// errorString is err's text for JSON, or nil.
func errorString(err error, msg string) *string {
	if err == nil {
		return nil
	}
	s := kafkaErrorText(err, msg)
	return &s
}

// topicIDString prints a topic id as Kafka's tools do: URL-safe base64 without padding.
func topicIDString(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// outputFormat is --format for commands that print tables: "text" or "json".
type outputFormat string

const (
	formatText outputFormat = "text"
	formatJSON outputFormat = "json"
)

// addFormatFlag adds --format text|json to cmd.
func addFormatFlag(cmd *cobra.Command, f *outputFormat) {
	*f = formatText
	cmd.Flags().Var(formatValue{f}, "format", "output format: text (tables) or json")
}

type formatValue struct{ f *outputFormat }

func (v formatValue) String() string {
	if v.f == nil {
		return ""
	}
	return string(*v.f)
}
func (v formatValue) Type() string { return "text|json" }
func (v formatValue) Set(s string) error {
	switch outputFormat(s) {
	case formatText, formatJSON:
		*v.f = outputFormat(s)
		return nil
	}
	return fmt.Errorf("want text or json")
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns; cells are tab-separated.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(anys(header)...)
	}
	return t
}

func (t *table) row(cells ...any) {
	strs := make([]string, len(cells))
	for i, c := range cells {
		strs[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(strs, "\t"))
}

func (t *table) flush() { _ = t.tw.Flush() }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// section prints a titled block of a multi-part report (describe, cluster info).
func section(w io.Writer, first bool, title string) {
	if !first {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s\n%s\n", title, strings.Repeat("=", len(title)))
}

// int32List prints replica lists as Kafka's tools do: [0,1,2].
func int32List(ns []int32) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// failures collects per-item errors of a command that goes on past them (create three topics,
// one exists) and turns them into its exit status.
type failures struct {
	errOut io.Writer
	n      int
}

func (f *failures) add(err error) {
	f.n++
	fmt.Fprintf(f.errOut, "sluice: %v\n", err)
}

// result is exitCode(exitFail) if anything failed: the messages are printed already.
func (f *failures) result() error {
	if f.n > 0 {
		return exitCode(exitFail)
	}
	return nil
}

// topicPartitions looks the topics up and returns their partition numbers, sorted; a topic that
// does not exist is an error that says how to create it.
func (c *cli) topicPartitions(ctx context.Context, adm *kadm.Client, topics ...string) (map[string][]int32, error) {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, c.explain(err)
	}
	out := make(map[string][]int32, len(topics))
	for _, t := range topics {
		td, ok := md.Topics[t]
		if !ok {
			return nil, topicError(t, kerr.UnknownTopicOrPartition, "")
		}
		if td.Err != nil {
			return nil, topicError(t, td.Err, "")
		}
		ps := td.Partitions.Numbers()
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		out[t] = ps
	}
	return out, nil
}
