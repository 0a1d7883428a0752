package main

// The group commands and consume --group, against the broker and against kfake, franz-go's fake
// cluster, as the reference for what Kafka answers. (testdata/cli/groups.txt has the output.)

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGroupCommands(t *testing.T) { againstSluiceAndKfake(t, testGroupCommands) }

// againstSluiceAndKfake runs test, in parallel, against the broker and against kfake (what Kafka
// answers), each started for it.
func againstSluiceAndKfake(t *testing.T, test func(t *testing.T, addr string)) {
	t.Run("broker=sluice", func(t *testing.T) {
		t.Parallel()
		test(t, startTestBroker(t))
	})
	t.Run("broker=kfake", func(t *testing.T) {
		t.Parallel()
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		test(t, c.ListenAddrs()[0])
	})
}

func testGroupCommands(t *testing.T, addr string) {
	sluiceAt(t, addr, "", "topic", "create", "gt", "-p", "2")
	sluiceAt(t, addr, strings.Repeat("r\n", 10), "produce", "gt", "--partitioner", "round-robin") // 5 a partition

	// consume --group commits what it printed.
	if out := sluiceAt(t, addr, "", "consume", "gt", "--group", "g1", "-n", "4", "--format", "%p %o"); strings.Count(out, "\n") != 4 {
		t.Fatalf("consume --group -n 4 printed %q", out)
	}
	var groups []groupListJSON
	decodeJSON(t, sluiceAt(t, addr, "", "group", "list", "--format", "json"), &groups)
	if len(groups) != 1 || groups[0].Group != "g1" || groups[0].State != "Empty" || groups[0].ProtocolType != "consumer" {
		t.Errorf("group list: %+v", groups)
	}
	if out := sluiceAt(t, addr, "", "group", "list"); !strings.Contains(out, "g1     Empty  consumer") {
		t.Errorf("group list:\n%s", out)
	}
	d := describeGroup(t, addr, "g1")
	var committed int64
	for _, p := range d.Partitions {
		if p.CommittedOffset > 0 {
			committed += p.CommittedOffset
		}
	}
	if d.State != "Empty" || len(d.Members) != 0 || committed != 4 || d.TotalLag != 6 {
		t.Errorf("describe after consuming 4 of 10: %+v", d)
	}
	if out := sluiceAt(t, addr, "", "group", "describe", "g1"); !strings.Contains(out, "TOTAL-LAG      6\n") ||
		!strings.Contains(out, "TOPIC  PARTITION  CURRENT-OFFSET  LOG-START-OFFSET  LOG-END-OFFSET  LAG") {
		t.Errorf("group describe:\n%s", out)
	}

	// seek: to the start, the end, an offset; --dry-run changes nothing.
	for _, tc := range []struct {
		to      string
		dryRun  bool
		wantLag int64
	}{
		{"start", false, 10},
		{"end", false, 0},
		{"2", true, 0},
		{"2", false, 6},
	} {
		args := []string{"group", "seek", "g1", "--to", tc.to, "--topics", "gt", "--format", "json"}
		if tc.dryRun {
			args = append(args, "--dry-run")
		}
		var rows []groupSeekJSON
		decodeJSON(t, sluiceAt(t, addr, "", args...), &rows)
		if len(rows) != 2 || rows[0].Error != nil || rows[1].Error != nil {
			t.Errorf("seek --to %s: %+v", tc.to, rows)
		}
		if d := describeGroup(t, addr, "g1"); d.TotalLag != tc.wantLag {
			t.Errorf("after seek --to %s (dry run %v): lag %d, want %d", tc.to, tc.dryRun, d.TotalLag, tc.wantLag)
		}
	}

	// -e with a group: from the committed offsets (2 in each partition) to the end.
	if out := sluiceAt(t, addr, "", "consume", "gt", "--group", "g1", "-e", "--format", "%p %o"); countLines(out)["0 2"] != 1 || strings.Count(out, "\n") != 6 {
		t.Errorf("consume --group -e after seeking to 2 printed %q", out)
	}
	if d := describeGroup(t, addr, "g1"); d.TotalLag != 0 {
		t.Errorf("lag %d after consuming to the end", d.TotalLag)
	}

	// A member at work: describe shows it and its assignment; seek refuses.
	stop := startFollower(t, addr, "consume", "gt", "--group", "g2")
	d = describeGroup(t, addr, "g2")
	if d.State != "Stable" || len(d.Members) != 1 || len(d.Members[0].Assignment) != 1 ||
		d.Members[0].Assignment[0].Topic != "gt" || len(d.Members[0].Assignment[0].Partitions) != 2 {
		t.Errorf("describe with one member: %+v", d)
	}
	r := runCLI(map[string]string{brokersEnv: addr}, "", "group", "seek", "g2", "--to", "start", "--topics", "gt")
	if r.code != 1 || !strings.Contains(r.stderr, "group g2 has 1 active members") {
		t.Errorf("seek of an active group: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(map[string]string{brokersEnv: addr}, "", "group", "delete", "g2")
	if r.code != 1 || !strings.Contains(r.stderr, "group g2 has active members") {
		t.Errorf("delete of an active group: exit %d, stderr %q", r.code, r.stderr)
	}
	stop()

	// delete, then the group is gone.
	if out := sluiceAt(t, addr, "", "group", "delete", "g1"); out != "GROUP  STATUS\ng1     OK\n" {
		t.Errorf("group delete:\n%s", out)
	}
	r = runCLI(map[string]string{brokersEnv: addr}, "", "group", "describe", "g1")
	if r.code != 1 || r.stderr != "sluice: group g1 does not exist; list groups with: sluice group list\n" {
		t.Errorf("describe of a deleted group: exit %d, stderr %q", r.code, r.stderr)
	}
	// seek sets up a group that does not exist yet, given its topics.
	sluiceAt(t, addr, "", "group", "seek", "fresh", "--to", "end", "--topics", "gt")
	if d := describeGroup(t, addr, "fresh"); d.TotalLag != 0 || len(d.Partitions) != 2 || d.Partitions[1].CommittedOffset != 5 {
		t.Errorf("describe of a group set up by seek: %+v", d)
	}
	r = runCLI(map[string]string{brokersEnv: addr}, "", "group", "seek", "nosuch", "--to", "start")
	if r.code != 1 || !strings.Contains(r.stderr, "group nosuch has no committed offsets; name the topics to seek with --topics") {
		t.Errorf("seek of an unknown group: exit %d, stderr %q", r.code, r.stderr)
	}
}

func describeGroup(t *testing.T, addr, group string) groupDescribeJSON {
	t.Helper()
	var ds []groupDescribeJSON
	decodeJSON(t, sluiceAt(t, addr, "", "group", "describe", group, "--format", "json"), &ds)
	if len(ds) != 1 {
		t.Fatalf("describe %s: %+v", group, ds)
	}
	return ds[0]
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in\n%s", err, s)
	}
}

// startFollower runs a consume that follows (no -n) until it has joined its group and printed
// a record, and returns the function that stops it (as Ctrl-C would) and waits for it.
func startFollower(t *testing.T, addr string, args ...string) (stop func()) {
	t.Helper()
	var mu sync.Mutex
	var stdout bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return stdout.Write(p) })
	c := &cli{in: strings.NewReader(""), out: w, errOut: io.Discard, lookupEnv: func(string) (string, bool) { return addr, true }}
	root := c.rootCommand()
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sluice %s stopped with %v", strings.Join(args, " "), err)
			}
		case <-time.After(testTimeout):
			t.Errorf("sluice %s did not stop", strings.Join(args, " "))
		}
	}
	deadline := time.Now().Add(testTimeout)
	for {
		mu.Lock()
		n := stdout.Len()
		mu.Unlock()
		if n > 0 {
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("sluice %s printed nothing", strings.Join(args, " "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGroupDescribeTimeLag: records stamped an hour ago, one second apart, in two partitions; a
// group committed at offset 3 of one and at the end of the other. describe reports the age of
// record 3 as the first partition's time lag (against the broker and kfake alike) and 0 for the
// caught-up one.
func TestGroupDescribeTimeLag(t *testing.T) { againstSluiceAndKfake(t, testGroupDescribeTimeLag) }

func testGroupDescribeTimeLag(t *testing.T, addr string) {
	sluiceAt(t, addr, "", "topic", "create", "aged", "-p", "2")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("aged"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var rs []*kgo.Record
	for p := range int32(2) {
		for i := range 5 {
			rs = append(rs, &kgo.Record{Partition: p, Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "aged", Partition: 0, At: 3, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "aged", Partition: 1, At: 5, LeaderEpoch: -1})
	if r, err := kadm.NewClient(cl).CommitOffsets(ctx, "aged-group", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	record3 := base.Add(3 * time.Second)
	before := time.Since(record3).Truncate(time.Millisecond)
	d := describeGroup(t, addr, "aged-group")
	after := time.Since(record3)
	if len(d.Partitions) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	if got := time.Duration(d.Partitions[0].TimeLagMs) * time.Millisecond; got < before || got > after {
		t.Errorf("partition 0 time lag %v, want the age of record 3, between %v and %v", got, before, after)
	}
	if d.Partitions[1].TimeLagMs != 0 {
		t.Errorf("caught-up partition 1: time lag %d ms, want 0", d.Partitions[1].TimeLagMs)
	}
	if out := sluiceAt(t, addr, "", "group", "describe", "aged-group"); !strings.Contains(out, "TIME-LAG") || !regexp.MustCompile(`aged\s+0\s+3\s+0\s+5\s+2\s+59m5\d(\.\d+)?s\s`).MatchString(out) {
		t.Errorf("describe table:\n%s", out)
	}
}
