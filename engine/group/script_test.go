package group

// Data-driven tests of the coordinator's state machine: each file in testdata/ is a trace of
// commands (requests from clients, clock advances, restarts) and, after "----", the answers the
// coordinator gave during that command, in request order. Time is a fake clock, the store an
// in-memory pebble. Rewrite the expectations after a deliberate change with
//
//	go test ./engine/group -run TestScripts -rewrite
//
// and read the diff: it is the behaviour change.

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scripts")

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptCase struct {
	cmd, want string
	line      int
}

func parseScript(t *testing.T, path string) (cases []scriptCase, raw []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw = strings.Split(string(data), "\n")
	for i := 0; i < len(raw); i++ {
		l := strings.TrimSpace(raw[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := scriptCase{cmd: l, line: i + 1}
		i++
		if i >= len(raw) || strings.TrimSpace(raw[i]) != "----" {
			t.Fatalf("%s:%d: command without ----", path, c.line)
		}
		var out []string
		for i++; i < len(raw) && strings.TrimSpace(raw[i]) != ""; i++ {
			out = append(out, raw[i])
		}
		c.want = strings.Join(out, "\n")
		cases = append(cases, c)
	}
	return cases, raw
}

func runScript(t *testing.T, path string) {
	cases, _ := parseScript(t, path)
	h := newHarness(t)
	defer h.close()
	var rewritten strings.Builder
	data, _ := os.ReadFile(path)
	lines := strings.Split(string(data), "\n")
	next := 0 // next line of the file to copy when rewriting
	for _, c := range cases {
		got := h.run(c.cmd)
		if *rewrite {
			for ; next < c.line; next++ {
				rewritten.WriteString(lines[next] + "\n")
			}
			rewritten.WriteString("----\n")
			if got != "" {
				rewritten.WriteString(got + "\n")
			}
			// skip the old expectation
			next++ // ----
			for next < len(lines) && strings.TrimSpace(lines[next]) != "" {
				next++
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, c.line, c.cmd, indent(got), indent(c.want))
		}
	}
	if *rewrite {
		for ; next < len(lines); next++ {
			rewritten.WriteString(lines[next])
			if next < len(lines)-1 {
				rewritten.WriteString("\n")
			}
		}
		if err := os.WriteFile(path, []byte(rewritten.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func indent(s string) string {
	if s == "" {
		return "  (nothing)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// fakeTopics is Topics from a map.
type fakeTopics struct {
	mu  sync.Mutex
	n   map[string]int32
	hwm map[string]int64 // "topic/partition"
}

func (f *fakeTopics) Partitions(topic string) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n, ok := f.n[topic]; ok {
		return n
	}
	return -1
}

func (f *fakeTopics) HighWatermark(topic string, p int32) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p < 0 || p >= f.n[topic] {
		return -1
	}
	return f.hwm[fmt.Sprintf("%s/%d", topic, p)]
}

// harness runs a coordinator on a fake clock and an in-memory store, and records replies.
type harness struct {
	t      *testing.T
	fs     vfs.FS
	clock  *fakeClock
	topics *fakeTopics
	cfg    Config
	c      *Coordinator
	ids    int

	mu      sync.Mutex
	seq     int
	replies map[int]string // request number → answer, for this command
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t: t, fs: vfs.NewMem(), clock: newFakeClock(),
		topics: &fakeTopics{n: map[string]int32{}, hwm: map[string]int64{}},
		cfg:    DefaultConfig(),
	}
	h.cfg.GroupMinSessionTimeoutMs = 10
	h.open()
	return h
}

func (h *harness) open() {
	c, err := Open("groups", Options{
		Config: h.cfg, Topics: h.topics, FS: h.fs, Clock: h.clock,
		NewMemberID: func(prefix string) string { h.ids++; return fmt.Sprintf("%s-%d", prefix, h.ids) },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
}

func (h *harness) close() {
	if h.c != nil {
		if err := h.c.Close(); err != nil {
			h.t.Errorf("close: %v", err)
		}
		h.c = nil
	}
}

// answer records an answer to request n.
func (h *harness) answer(n int, s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.replies[n]; dup {
		h.t.Errorf("request #%d answered twice", n)
	}
	h.replies[n] = s
}

func errName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

// args parses key=value words (a word without '=' is key "").
type args map[string]string

func parseArgs(words []string) args {
	a := args{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			a[""] += " " + w
			continue
		}
		a[k] = v
	}
	return a
}

func (a args) str(k, def string) string {
	if v, ok := a[k]; ok {
		return v
	}
	return def
}

func (a args) int(t *testing.T, k string, def int64) int64 {
	v, ok := a[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", k, v, err)
	}
	return n
}

func (a args) strPtr(k string) *string {
	if v, ok := a[k]; ok {
		return &v
	}
	return nil
}

// run executes one command and returns what was answered during it.
func (h *harness) run(cmd string) string {
	words := strings.Fields(cmd)
	a := parseArgs(words[1:])
	h.mu.Lock()
	h.replies = map[int]string{}
	h.seq++
	n := h.seq
	h.mu.Unlock()
	var extra []string
	switch words[0] {
	case "config":
		for k, v := range a {
			x, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "initial-delay":
				h.cfg.GroupInitialRebalanceDelayMs = int32(x)
			case "min-session":
				h.cfg.GroupMinSessionTimeoutMs = int32(x)
			case "max-size":
				h.cfg.GroupMaxSize = int32(x)
			case "retention-minutes":
				h.cfg.OffsetsRetentionMinutes = int32(x)
			default:
				h.t.Fatalf("config %s", k)
			}
		}
		h.c.SetConfig(h.cfg)
	case "topic":
		h.topics.mu.Lock()
		for k, v := range a {
			if strings.Contains(k, "/") {
				x, _ := strconv.ParseInt(v, 10, 64)
				h.topics.hwm[k] = x
				continue
			}
			x, _ := strconv.ParseInt(v, 10, 32)
			if x < 0 {
				delete(h.topics.n, k)
				continue
			}
			h.topics.n[k] = int32(x)
		}
		h.topics.mu.Unlock()
	case "delete-topic":
		h.topics.mu.Lock()
		delete(h.topics.n, a.str("topic", ""))
		h.topics.mu.Unlock()
		h.c.TopicDeleted(a.str("topic", ""))
	case "advance":
		d, err := time.ParseDuration(strings.TrimSpace(a[""]))
		if err != nil {
			h.t.Fatalf("advance: %v", err)
		}
		h.clock.Advance(d)
	case "restart":
		h.close()
		h.open()
	case "retention":
		h.c.RunRetention()
	case "join":
		h.join(n, a)
	case "sync":
		h.sync(n, a)
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = int16(a.int(h.t, "v", 4))
		req.Group, req.MemberID, req.Generation, req.InstanceID = a.str("group", "g"), a.str("member", ""), int32(a.int(h.t, "gen", -1)), a.strPtr("instance")
		resp := h.c.Heartbeat(req)
		h.answer(n, "heartbeat: "+errName(resp.ErrorCode))
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = int16(a.int(h.t, "v", 5))
		req.Group = a.str("group", "g")
		if req.Version < 3 {
			req.MemberID = a.str("member", "")
		} else {
			for _, id := range strings.Split(a.str("member", ""), ",") {
				lm := kmsg.NewLeaveGroupRequestMember()
				lm.MemberID = id
				if inst, ok := strings.CutPrefix(id, "instance:"); ok {
					lm.MemberID, lm.InstanceID = "", &inst
				}
				req.Members = append(req.Members, lm)
			}
		}
		resp := h.c.LeaveGroup(req)
		s := "leave: " + errName(resp.ErrorCode)
		for _, m := range resp.Members {
			id := m.MemberID
			if m.InstanceID != nil {
				id = "instance:" + *m.InstanceID
			}
			s += fmt.Sprintf(" %s=%s", id, errName(m.ErrorCode))
		}
		h.answer(n, s)
	case "commit":
		h.commit(n, a)
	case "fetch":
		h.fetch(n, a)
	case "offset-delete":
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = a.str("group", "g")
		for _, tp := range strings.Split(a.str("partitions", ""), ",") {
			topic, p, _ := strings.Cut(tp, "/")
			x, _ := strconv.Atoi(p)
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: int32(x)}}
			req.Topics = append(req.Topics, rt)
		}
		h.c.OffsetDelete(req, func(resp *kmsg.OffsetDeleteResponse) {
			s := "offset-delete: " + errName(resp.ErrorCode)
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
				}
			}
			h.answer(n, s)
		})
	case "delete-groups":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = strings.Split(a.str("groups", ""), ",")
		h.c.DeleteGroups(req, func(resp *kmsg.DeleteGroupsResponse) {
			s := "delete-groups:"
			for _, g := range resp.Groups {
				s += fmt.Sprintf(" %s=%s", g.Group, errName(g.ErrorCode))
			}
			h.answer(n, s)
		})
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 4
		if f := a.str("states", ""); f != "" {
			req.StatesFilter = strings.Split(f, ",")
		}
		resp := h.c.ListGroups(req)
		s := "list:"
		for _, g := range resp.Groups {
			s += fmt.Sprintf(" %s(%s,%s)", g.Group, g.GroupState, g.ProtocolType)
		}
		h.answer(n, s)
	case "describe":
		d, err := h.c.Describe(a.str("group", "g"))
		if err != nil {
			h.answer(n, "describe: "+err.Error())
			break
		}
		var b strings.Builder
		d.WriteText(&b)
		for _, l := range strings.Split(b.String(), "\n") {
			if l = strings.TrimRight(l, " "); l != "" { // a blank line would end the expectation
				extra = append(extra, "  "+l)
			}
		}
		h.answer(n, "describe:")
	case "state":
		h.answer(n, h.state(a.str("group", "g")))
	default:
		h.t.Fatalf("unknown command %q", words[0])
	}
	h.c.Flush()
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := make([]int, 0, len(h.replies))
	for k := range h.replies {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("#%d %s", k, h.replies[k]))
		if k == n {
			out = append(out, extra...)
		}
	}
	return strings.Join(out, "\n")
}

// state summarises a group: state, generation, protocol, leader, members (with what they wait in).
func (h *harness) state(name string) string {
	g := h.c.lookupGroup(name)
	if g == nil {
		return "state: no such group"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s := fmt.Sprintf("state: %s gen=%d", g.state, g.generation)
	if g.protocolType != "" {
		s += " type=" + g.protocolType
	}
	if g.protocol != "" {
		s += " protocol=" + g.protocol
	}
	if g.leader != "" {
		s += " leader=" + g.leader
	}
	var ms []string
	for _, m := range g.sortedMembers() {
		x := m.id
		switch {
		case m.join != nil:
			x += "(joining)"
		case m.sync != nil:
			x += "(syncing)"
		}
		ms = append(ms, x)
	}
	s += " members=[" + strings.Join(ms, " ") + "]"
	if len(g.pending) > 0 {
		s += " pending=[" + strings.Join(sortedMapKeys(g.pending), " ") + "]"
	}
	return s
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (h *harness) join(n int, a args) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = int16(a.int(h.t, "v", 5))
	req.Group = a.str("group", "g")
	req.MemberID = a.str("member", "")
	req.InstanceID = a.strPtr("instance")
	req.SessionTimeoutMillis = int32(a.int(h.t, "session", 1000))
	req.RebalanceTimeoutMillis = int32(a.int(h.t, "rebalance", 2000))
	req.ProtocolType = a.str("type", "consumer")
	for _, p := range strings.Split(a.str("protocols", "range"), ",") {
		if p == "" {
			continue
		}
		name, meta, _ := strings.Cut(p, ":")
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = name, []byte(meta)
		if topics := a.str("subscribe", ""); topics != "" && meta == "" {
			md := kmsg.NewConsumerMemberMetadata()
			md.Topics = strings.Split(topics, "+")
			jp.Metadata = md.AppendTo(nil)
		}
		req.Protocols = append(req.Protocols, jp)
	}
	h.c.JoinGroup(req, Client{ID: a.str("client", "c"), Host: "/127.0.0.1"}, func(resp *kmsg.JoinGroupResponse) {
		if resp.ErrorCode != 0 {
			h.answer(n, fmt.Sprintf("join: %s member=%s", errName(resp.ErrorCode), resp.MemberID))
			return
		}
		s := fmt.Sprintf("join: ok gen=%d member=%s leader=%s", resp.Generation, resp.MemberID, resp.LeaderID)
		if resp.Protocol != nil {
			s += " protocol=" + *resp.Protocol
		}
		if len(resp.Members) > 0 {
			var ms []string
			for _, m := range resp.Members {
				x := m.MemberID
				if m.InstanceID != nil {
					x += "(" + *m.InstanceID + ")"
				}
				ms = append(ms, x)
			}
			s += " members=[" + strings.Join(ms, " ") + "]"
		}
		if resp.SkipAssignment {
			s += " skip-assignment"
		}
		h.answer(n, s)
	})
}

func (h *harness) sync(n int, a args) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = int16(a.int(h.t, "v", 5))
	req.Group, req.MemberID, req.Generation, req.InstanceID = a.str("group", "g"), a.str("member", ""), int32(a.int(h.t, "gen", -1)), a.strPtr("instance")
	if req.Version >= 5 {
		req.ProtocolType, req.Protocol = a.strPtr("type"), a.strPtr("protocol")
	}
	if as := a.str("assign", ""); as != "" {
		for _, x := range strings.Split(as, ",") {
			id, v, _ := strings.Cut(x, ":")
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID, ga.MemberAssignment = id, encodeAssignment(v)
			req.GroupAssignment = append(req.GroupAssignment, ga)
		}
	}
	h.c.SyncGroup(req, func(resp *kmsg.SyncGroupResponse) {
		if resp.ErrorCode != 0 {
			h.answer(n, "sync: "+errName(resp.ErrorCode))
			return
		}
		a := decodeAssignment(resp.MemberAssignment)
		h.answer(n, "sync: ok assignment="+a)
	})
}

// commit: commit group=g member=m gen=1 offsets=t/0:5,t/1:7 [meta=x] [v=8]
func (h *harness) commit(n int, a args) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = int16(a.int(h.t, "v", 8))
	req.Group, req.MemberID, req.Generation, req.InstanceID = a.str("group", "g"), a.str("member", ""), int32(a.int(h.t, "gen", -1)), a.strPtr("instance")
	req.RetentionTimeMillis = a.int(h.t, "retention", -1)
	byTopic := map[string]int{}
	for _, x := range strings.Split(a.str("offsets", ""), ",") {
		tp, off, _ := strings.Cut(x, ":")
		topic, p, _ := strings.Cut(tp, "/")
		pi, _ := strconv.Atoi(p)
		oi, _ := strconv.ParseInt(off, 10, 64)
		i, ok := byTopic[topic]
		if !ok {
			i = len(req.Topics)
			byTopic[topic] = i
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = int32(pi), oi, int32(a.int(h.t, "epoch", -1)), a.strPtr("meta")
		if n := a.int(h.t, "meta-bytes", -1); n >= 0 {
			rp.Metadata = kmsg.StringPtr(strings.Repeat("x", int(n)))
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	h.c.OffsetCommit(req, func(resp *kmsg.OffsetCommitResponse) {
		s := "commit:"
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				s += fmt.Sprintf(" %s/%d=%s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
		h.answer(n, s)
	})
}

// fetch: fetch group=g [partitions=t/0,t/1] [v=7]; without partitions, every committed offset.
func (h *harness) fetch(n int, a args) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = int16(a.int(h.t, "v", 7))
	groups := strings.Split(a.str("group", "g"), ",")
	var topics []kmsg.OffsetFetchRequestTopic
	if ps := a.str("partitions", ""); ps != "" {
		byTopic := map[string]int{}
		for _, tp := range strings.Split(ps, ",") {
			topic, p, _ := strings.Cut(tp, "/")
			pi, _ := strconv.Atoi(p)
			i, ok := byTopic[topic]
			if !ok {
				i = len(topics)
				byTopic[topic] = i
				topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: topic})
			}
			topics[i].Partitions = append(topics[i].Partitions, int32(pi))
		}
	}
	part := func(topic string, p int32, off int64, epoch int32, meta *string, code int16) string {
		s := fmt.Sprintf(" %s/%d=%d", topic, p, off)
		if epoch >= 0 {
			s += fmt.Sprintf("@%d", epoch)
		}
		if meta != nil && *meta != "" {
			s += "(" + *meta + ")"
		}
		if code != 0 {
			s += ":" + errName(code)
		}
		return s
	}
	if req.Version >= 8 {
		for _, g := range groups {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			for _, t := range topics {
				rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
			req.Groups = append(req.Groups, rg)
		}
		resp := h.c.OffsetFetch(req)
		s := "fetch:"
		for _, g := range resp.Groups {
			s += " " + g.Group + "{" + errName(g.ErrorCode)
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					s += part(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
				}
			}
			s += "}"
		}
		h.answer(n, s)
		return
	}
	req.Group, req.Topics = groups[0], topics
	resp := h.c.OffsetFetch(req)
	s := "fetch: " + errName(resp.ErrorCode)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			s += part(t.Topic, p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode)
		}
	}
	h.answer(n, s)
}

// encodeAssignment turns "@topic/0+1;other/2" into a consumer-protocol assignment; anything else
// stays raw bytes.
func encodeAssignment(s string) []byte {
	spec, ok := strings.CutPrefix(s, "@")
	if !ok {
		return []byte(s)
	}
	a := kmsg.NewConsumerMemberAssignment()
	for _, tp := range strings.Split(spec, ";") {
		topic, ps, _ := strings.Cut(tp, "/")
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic = topic
		for _, p := range strings.Split(ps, "+") {
			x, _ := strconv.Atoi(p)
			at.Partitions = append(at.Partitions, int32(x))
		}
		a.Topics = append(a.Topics, at)
	}
	return a.AppendTo(nil)
}

// decodeAssignment is encodeAssignment's inverse: "(empty)" for an empty consumer assignment.
func decodeAssignment(b []byte) string {
	var a kmsg.ConsumerMemberAssignment
	if len(b) < 6 || a.ReadFrom(b) != nil {
		return string(b)
	}
	if len(a.Topics) == 0 {
		return "(empty)"
	}
	var ts []string
	for _, t := range a.Topics {
		var ps []string
		for _, p := range t.Partitions {
			ps = append(ps, strconv.Itoa(int(p)))
		}
		ts = append(ts, t.Topic+"/"+strings.Join(ps, "+"))
	}
	return "@" + strings.Join(ts, ";")
}
