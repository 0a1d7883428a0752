package main

// CLI tests against an in-process broker (engine/broker served by netio on 127.0.0.1:0).
//
// The golden tests are transcripts under testdata/cli/: each "$ sluice ..." line is run and
// followed by what it printed — stdout as is, stderr lines prefixed "! ", and "[exit N]" when
// the status is not 0. Volatile values are normalised: the broker's port reads $PORT, topic ids
// <id:TOPIC>, timestamps of the run <ts> (ms) and <time> (RFC 3339), and a consumer group's time
// lag, when not 0 or unknown, <lag> (the TIME-LAG column, "time_lag_ms" in JSON). A command may start with
// NAME=VALUE environment settings and "printf 'TEXT' |" for stdin; $BROKERS expands to the
// broker's address, which is also in SLUICE_BROKERS unless the line sets it.
//
//	go test ./cmd/sluice -run TestCLITranscripts -update   # rewrites the transcripts' outputs

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/broker"
	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/netio"
)

var update = flag.Bool("update", false, "rewrite the CLI transcripts under testdata/cli/ and docs/cli.md")

// startTestBroker serves a fresh broker on 127.0.0.1:0 and returns its address. It is stopped
// when the test ends.
func startTestBroker(t testing.TB, mutate ...func(*broker.Config)) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := broker.DefaultConfig()
	cfg.LogDir = t.TempDir()
	cfg.Logger = quiet
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := broker.New(cfg)
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	// Consumer groups form at once rather than after Kafka's 3 s group.initial.rebalance.delay.ms.
	if g, ok := any(b).(groupConfigurer); ok {
		gc := g.GroupConfig()
		gc.GroupInitialRebalanceDelayMs = 0
		g.SetGroupConfig(gc)
	}
	srv, err := netio.NewServer(netio.Config{Addr: "127.0.0.1:0", Logger: quiet}, b)
	if err != nil {
		_ = b.Close()
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		_ = b.Close()
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr().String())
	p, _ := strconv.Atoi(port)
	b.SetAdvertisedAddr(host, int32(p))
	t.Cleanup(func() {
		srv.Stop()
		if err := b.Close(); err != nil {
			t.Errorf("closing the broker: %v", err)
		}
	})
	return srv.Addr().String()
}

// groupConfigurer is the broker's group coordinator configuration, when it has one.
type groupConfigurer interface {
	GroupConfig() group.Config
	SetGroupConfig(group.Config)
}

// cliResult is what one run of the command line printed.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command line in-process with the given stdin and environment.
func runCLI(env map[string]string, stdin string, args ...string) cliResult {
	var stdout, stderr bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := runWith(args, strings.NewReader(stdin), &stdout, &stderr, lookup)
	return cliResult{stdout.String(), stderr.String(), code}
}

// sluiceAt runs sluice against the broker at addr (through SLUICE_BROKERS) and fails the test
// unless it exits 0.
func sluiceAt(t *testing.T, addr, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(map[string]string{brokersEnv: addr}, stdin, args...)
	if r.code != 0 {
		t.Fatalf("sluice %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestCLITranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/cli/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			t.Parallel()
			runTranscript(t, file, startTestBroker(t))
		})
	}
}

// transcriptBlock is one command of a transcript: the comment lines before it, the command
// line (without "$ ") and the output recorded for it.
type transcriptBlock struct {
	comments []string
	command  string
	output   string
}

func parseTranscript(text string) ([]transcriptBlock, error) {
	var blocks []transcriptBlock
	var comments, out []string
	flush := func() {
		if len(blocks) > 0 {
			blocks[len(blocks)-1].output = strings.TrimRight(strings.Join(out, "\n"), "\n")
		}
		out = nil
	}
	for i, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "$ "):
			flush()
			blocks = append(blocks, transcriptBlock{comments: comments, command: line[2:]})
			comments = nil
		case strings.HasPrefix(line, "#"):
			comments = append(comments, line)
		case len(blocks) == 0 && strings.TrimSpace(line) != "":
			return nil, fmt.Errorf("line %d: output before the first command", i+1)
		default:
			if len(comments) > 0 && strings.TrimSpace(line) == "" {
				continue // blank lines between comments and their command
			}
			out = append(out, line)
		}
	}
	flush()
	return blocks, nil
}

func formatTranscript(blocks []transcriptBlock) string {
	var b strings.Builder
	for i, bl := range blocks {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, c := range bl.comments {
			b.WriteString(c + "\n")
		}
		b.WriteString("$ " + bl.command + "\n")
		if bl.output != "" {
			b.WriteString(bl.output + "\n")
		}
	}
	return b.String()
}

func runTranscript(t *testing.T, file, addr string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseTranscript(string(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	norm := newNormaliser(t, addr)
	failed := false
	for i := range blocks {
		bl := &blocks[i]
		env, stdin, args, err := parseCommandLine(bl.command, addr)
		if err != nil {
			t.Fatalf("%s: %q: %v", file, bl.command, err)
		}
		r := runCLI(env, stdin, args...)
		got := norm.apply(renderResult(r))
		if got != bl.output {
			if !*update {
				t.Errorf("%s: $ %s\n--- want\n%s\n--- got\n%s", file, bl.command, bl.output, got)
			}
			failed = true
			bl.output = got
		}
	}
	if failed && *update {
		if err := os.WriteFile(file, []byte(formatTranscript(blocks)), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", file)
	}
}

func renderResult(r cliResult) string {
	var b strings.Builder
	b.WriteString(r.stdout)
	if r.stderr != "" {
		for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
			b.WriteString("! " + l + "\n")
		}
	}
	if r.code != 0 {
		fmt.Fprintf(&b, "[exit %d]\n", r.code)
	}
	return strings.TrimRight(b.String(), "\n")
}

// parseCommandLine splits "[NAME=VALUE ...] [printf 'TEXT' |] sluice ARGS..." into the
// environment, stdin and sluice's arguments, expanding $BROKERS.
func parseCommandLine(line, addr string) (env map[string]string, stdin string, args []string, err error) {
	words, err := shellWords(strings.ReplaceAll(line, "$BROKERS", addr))
	if err != nil {
		return nil, "", nil, err
	}
	env = map[string]string{brokersEnv: addr}
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(words[0]) {
		k, v, _ := strings.Cut(words[0], "=")
		env[k] = v
		words = words[1:]
	}
	if len(words) >= 3 && words[0] == "printf" && words[2] == "|" {
		if stdin, err = unescape(strings.ReplaceAll(words[1], "%%", "%")); err != nil {
			return nil, "", nil, err
		}
		words = words[3:]
	}
	if len(words) == 0 || words[0] != "sluice" {
		return nil, "", nil, fmt.Errorf("want [NAME=VALUE ...] [printf 'TEXT' |] sluice ARGS...")
	}
	return env, stdin, words[1:], nil
}

// shellWords splits a command line as a POSIX shell would, for the quoting transcripts use:
// single quotes, double quotes (with \" and \\) and backslash escapes outside quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, fmt.Errorf(`unterminated "`)
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// normaliser replaces the values that change from run to run.
type normaliser struct {
	t     *testing.T
	port  string
	cl    *kgo.Client
	ids   map[string]string // topic id → <id:TOPIC>, kept after a topic is deleted
	start time.Time
}

func newNormaliser(t *testing.T, addr string) *normaliser {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	_, port, _ := net.SplitHostPort(addr)
	return &normaliser{t: t, port: port, cl: cl, ids: map[string]string{}, start: time.Now()}
}

var (
	msTimestamp  = regexp.MustCompile(`\b1[0-9]{12}\b`)
	rfcTimestamp = regexp.MustCompile(`\b[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\b`)
)

func (n *normaliser) apply(s string) string {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// A fresh Metadata request each time: kadm's answers come from the client's metadata cache.
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, n.cl)
	if err != nil {
		n.t.Fatalf("listing topics to normalise their ids: %v", err)
	}
	for _, rt := range resp.Topics {
		if id := topicIDString(rt.TopicID); id != "" && rt.Topic != nil {
			n.ids[id] = "<id:" + *rt.Topic + ">"
		}
	}
	for id, name := range n.ids {
		s = strings.ReplaceAll(s, id, name)
	}
	s = regexp.MustCompile(`\b`+n.port+`\b`).ReplaceAllString(s, "$$PORT")
	s = normaliseTimeLag(s)
	lo, hi := n.start.Add(-time.Minute), time.Now().Add(time.Minute)
	s = msTimestamp.ReplaceAllStringFunc(s, func(m string) string {
		ms, _ := strconv.ParseInt(m, 10, 64)
		if ts := time.UnixMilli(ms); ts.After(lo) && ts.Before(hi) {
			return "<ts>"
		}
		return m
	})
	return rfcTimestamp.ReplaceAllStringFunc(s, func(m string) string {
		if ts, err := time.Parse(time.RFC3339Nano, m); err == nil && ts.After(lo) && ts.Before(hi) {
			return "<time>"
		}
		return m
	})
}

var jsonTimeLag = regexp.MustCompile(`"time_lag_ms": [1-9][0-9]*`)

// normaliseTimeLag replaces nonzero time lags with <lag>: in JSON, and in the cells of a
// table's TIME-LAG column (padded to the cell's width, so the columns stay aligned).
func normaliseTimeLag(s string) string {
	s = jsonTimeLag.ReplaceAllString(s, `"time_lag_ms": <lag>`)
	lines := strings.Split(s, "\n")
	col, end := -1, -1 // the column's byte range in the current table
	for i, l := range lines {
		if h := strings.Index(l, "TIME-LAG"); h >= 0 {
			col, end = h, len(l)
			if next := strings.IndexFunc(l[h+len("TIME-LAG"):], func(r rune) bool { return r != ' ' }); next >= 0 {
				end = h + len("TIME-LAG") + next
			}
			continue
		}
		if strings.TrimSpace(l) == "" {
			col = -1
			continue
		}
		if col < 0 || len(l) <= col {
			continue
		}
		e := min(end, len(l))
		if v := strings.TrimSpace(l[col:e]); v != "0s" && v != "-" && v != "" {
			lines[i] = l[:col] + fmt.Sprintf("%-*s", e-col, "<lag>") + l[e:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestPartitioners checks the three partitioning strategies and manual placement by the
// partitions records land on.
func TestPartitioners(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	sluiceAt(t, addr, "", "topic", "create", "parts", "-p", "3")

	// key-hash: equal keys share a partition; 12 records of 4 keys.
	var in strings.Builder
	for i := range 12 {
		fmt.Fprintf(&in, "key%d=v%d\n", i%4, i)
	}
	out := sluiceAt(t, addr, in.String(), "produce", "parts", "--key-delimiter", "=", "--format", "%k %p")
	byKey := map[string]map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, p, _ := strings.Cut(l, " ")
		if byKey[k] == nil {
			byKey[k] = map[string]bool{}
		}
		byKey[k][p] = true
	}
	if len(byKey) != 4 {
		t.Fatalf("key-hash: acknowledgements %q", out)
	}
	for k, ps := range byKey {
		if len(ps) != 1 {
			t.Errorf("key-hash: key %s went to partitions %v", k, ps)
		}
	}
	// The same keys again land where they did (the hash is the Java client's murmur2).
	again := sluiceAt(t, addr, "key1=x\n", "produce", "parts", "-K", "=", "--format", "%p")
	for p := range byKey["key1"] {
		if strings.TrimSpace(again) != p {
			t.Errorf("key-hash: key1 went to %s, earlier to %s", again, p)
		}
	}

	// manual: everything on -p 2.
	out = sluiceAt(t, addr, "a\nb\nc\nd\n", "produce", "parts", "-p", "2", "--format", "%p")
	if out != "2\n2\n2\n2\n" {
		t.Errorf("manual -p 2: partitions %q", out)
	}

	// round-robin: 9 records, 3 on each partition.
	out = sluiceAt(t, addr, strings.Repeat("r\n", 9), "produce", "parts", "--partitioner", "round-robin", "--format", "%p")
	if counts := countLines(out); len(counts) != 3 || counts["0"] != 3 || counts["1"] != 3 || counts["2"] != 3 {
		t.Errorf("round-robin: partitions %v", counts)
	}

	// sticky: a partition per batch, keys or not. 30 records with 30 keys, produced at once, make
	// few batches (all of them wait for the topic's metadata), so the partition changes seldom
	// from one record to the next, where round-robin changes it every time.
	in.Reset()
	for i := range 30 {
		fmt.Fprintf(&in, "key%d=v\n", i)
	}
	out = sluiceAt(t, addr, in.String(), "produce", "parts", "-K", "=", "--partitioner", "sticky", "--format", "%p")
	if changes := partitionChanges(out); changes > 5 {
		t.Errorf("sticky: the partition changed %d times in 30 records:\n%s", changes, out)
	}

	// What was acknowledged is what is stored: 12 + 1 + 4 + 9 + 30 records.
	out = sluiceAt(t, addr, "", "consume", "parts", "-e", "--format", "%p")
	if n := strings.Count(out, "\n"); n != 56 {
		t.Errorf("consumed %d records, want 56", n)
	}
}

// partitionChanges counts the lines that differ from the line before.
func partitionChanges(s string) int {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	n := 0
	for i := 1; i < len(lines); i++ {
		if lines[i] != lines[i-1] {
			n++
		}
	}
	return n
}

func countLines(s string) map[string]int {
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		m[l]++
	}
	return m
}

// TestConsumeFormats checks every format verb and the JSON format on records with fixed
// timestamps, keys, null keys and headers.
func TestConsumeFormats(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	sluiceAt(t, addr, "", "topic", "create", "fmt", "-p", "1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ts := time.UnixMilli(1700000000123)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Topic: "fmt", Key: []byte("k1"), Value: []byte("v1"), Timestamp: ts,
			Headers: []kgo.RecordHeader{{Key: "h1", Value: []byte("x")}, {Key: "h2", Value: []byte("y")}}},
		&kgo.Record{Topic: "fmt", Value: []byte("no key"), Timestamp: ts.Add(time.Second)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "2"}, "v1\nno key\n"},
		{[]string{"-n", "1", "--format", `%T|%p|%o|%k|%v|%t|%d|%h|%K|%V|100%%`},
			"fmt|0|0|k1|v1|1700000000123|2023-11-14T22:13:20.123Z|h1=x,h2=y|2|2|100%\n"},
		{[]string{"-n", "2", "-f", `%o:%k\t%v\n`}, "0:k1\tv1\n1:\tno key\n"},
		{[]string{"-n", "2", "--format", "json"},
			`{"topic":"fmt","partition":0,"offset":0,"timestamp":1700000000123,"key":"k1","value":"v1","headers":[{"key":"h1","value":"x"},{"key":"h2","value":"y"}]}` + "\n" +
				`{"topic":"fmt","partition":0,"offset":1,"timestamp":1700000001123,"key":null,"value":"no key","headers":[]}` + "\n"},
		{[]string{"--offset", "1", "-n", "1"}, "no key\n"},
		{[]string{"--offset", "-1", "-e"}, "no key\n"},
		{[]string{"--offset", "@1700000000500", "-e"}, "no key\n"},
		{[]string{"--offset", "@2023-11-14T22:13:20Z", "-e"}, "v1\nno key\n"},
		{[]string{"--offset", "end", "-e"}, ""},
		{[]string{"-e", "-p", "0"}, "v1\nno key\n"},
	} {
		if got := sluiceAt(t, addr, "", append([]string{"consume", "fmt"}, tc.args...)...); got != tc.want {
			t.Errorf("consume %q:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

// TestBrokersFromEnvironment checks that run reads SLUICE_BROKERS from the process's
// environment, and that --brokers wins over it.
func TestBrokersFromEnvironment(t *testing.T) {
	addr := startTestBroker(t)
	dead := deadAddr(t)

	t.Setenv(brokersEnv, addr)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"topic", "create", "env-topic"}, &stdout, &stderr); code != 0 {
		t.Fatalf("with %s=%s: exit %d: %s", brokersEnv, addr, code, stderr.String())
	}

	t.Setenv(brokersEnv, dead)
	stdout.Reset()
	if code := run([]string{"topic", "list", "--brokers", addr}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "env-topic") {
		t.Fatalf("--brokers over %s: exit %d, stdout %q", brokersEnv, code, stdout.String())
	}

	stderr.Reset()
	start := time.Now()
	code := run([]string{"topic", "list"}, &stdout, &stderr)
	want := "sluice: cannot reach the brokers at " + dead + " (set --brokers or SLUICE_BROKERS)"
	if code != 1 || !strings.HasPrefix(stderr.String(), want) {
		t.Fatalf("with %s=%s (nothing listening): exit %d, stderr %q; want 1 and %q", brokersEnv, dead, code, stderr.String(), want)
	}
	if d := time.Since(start); d > defaultRequestTimeout {
		t.Errorf("took %v to report an unreachable broker", d)
	}
}

// deadAddr is a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestProduceLargeInput produces more records than one batch holds and reads them back in
// order, through the default partitioner on one partition.
func TestProduceLargeInput(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	sluiceAt(t, addr, "", "topic", "create", "big")
	var in strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&in, "record-%d\n", i)
	}
	sluiceAt(t, addr, in.String(), "produce", "big", "-z", "zstd")
	if got := sluiceAt(t, addr, "", "consume", "big", "-e"); got != in.String() {
		t.Errorf("consumed %d bytes, want the %d produced", len(got), in.Len())
	}
}

// TestConsumeStopsOnCancel checks that a follower (no -n, no -e) stops cleanly when its context
// ends, as it does on Ctrl-C.
func TestConsumeStopsOnCancel(t *testing.T) {
	t.Parallel()
	addr := startTestBroker(t)
	sluiceAt(t, addr, "a\n", "produce", "follow", "--allow-auto-topic-creation")
	stop := startFollower(t, addr, "consume", "follow")
	stop()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`sluice consume t --format '%k %v'`, []string{"sluice", "consume", "t", "--format", "%k %v"}},
		{`a "b \"c\"" d\ e`, []string{"a", `b "c"`, "d e"}},
		{`x=''`, []string{"x="}},
	} {
		got, err := shellWords(tc.in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseOffsetSpec(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	for _, tc := range []struct {
		in   string
		want offsetSpec
		err  bool
	}{
		{in: "start", want: offsetSpec{kind: offsetStart}},
		{in: "end", want: offsetSpec{kind: offsetEnd}},
		{in: "42", want: offsetSpec{kind: offsetExact, n: 42}},
		{in: "-3", want: offsetSpec{kind: offsetFromEnd, n: 3}},
		{in: "@1600000000000", want: offsetSpec{kind: offsetTime, n: 1600000000000}},
		{in: "@2023-11-14", want: offsetSpec{kind: offsetTime, n: 1699920000000}},
		{in: "@2023-11-14T22:13:20Z", want: offsetSpec{kind: offsetTime, n: 1700000000000}},
		{in: "@-1m", want: offsetSpec{kind: offsetTime, n: 1700000000000 - 60000}},
		{in: "soon", err: true},
		{in: "@yesterday", err: true},
	} {
		got, err := parseOffsetSpec(tc.in, now)
		if (err != nil) != tc.err || !tc.err && got != tc.want {
			t.Errorf("parseOffsetSpec(%q) = %+v, %v; want %+v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestHelpForms(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string // prefixes; "" checks that nothing was printed
	}{
		{[]string{"-help"}, 0, rootLong, ""},
		{[]string{"help", "topic", "create"}, 0, "Create topics with a number of partitions", ""},
		{[]string{"topic", "create", "--help"}, 0, "Create topics with a number of partitions", ""},
		{[]string{"topic"}, 2, "", "Create, list, describe, configure and delete topics\n\nUsage:\n  sluice topic <command> [flags]"},
		{[]string{"group", "list", "extra"}, 2, "", "sluice: group list takes no arguments"},
	} {
		r := runCLI(nil, "", tc.args...)
		if r.code != tc.code || !strings.HasPrefix(r.stdout, tc.stdout) || tc.stdout == "" && r.stdout != "" ||
			!strings.HasPrefix(r.stderr, tc.stderr) || tc.stderr == "" && r.stderr != "" {
			t.Errorf("sluice %q: exit %d\nstdout: %s\nstderr: %s", tc.args, r.code, r.stdout, r.stderr)
		}
	}
}
