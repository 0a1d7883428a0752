package broker

// FuzzServeKafka drives (*Broker).ServeKafka directly, with no network, for arbitrary (api key,
// version, body): the broker must never panic, must answer every request exactly once (at once,
// or for a parked request eventually), and whatever it sends must decode with kmsg at the
// request's version. Seeds: testdata/fuzz/FuzzServeKafka holds the body of every request in the
// kafka-wire captures (TestServeKafkaSeedCorpus checks they are current; run it with
// SLUICE_UPDATE_FUZZ_SEEDS=1 to rewrite them) plus the edge cases added below.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

// Bounds of the fuzz harness.
const (
	// fuzzSettleWait is how long a request not answered by ServeKafka itself may take (work
	// moved off the event loop, a Produce waiting for its fsync) before it counts as parked. A
	// parked request (a long-poll Fetch, a JoinGroup or SyncGroup waiting for the group) is then
	// answered by closing the broker: waiting for its own timeout (up to minutes) would stall the
	// fuzzer, and the timeouts are tested elsewhere. Fetches park so often that they are closed
	// on at once.
	fuzzSettleWait = 100 * time.Millisecond
	// fuzzParkedWaitMax bounds Close, which must answer every parked request, and the answer's
	// arrival after it.
	fuzzParkedWaitMax = 10 * time.Second
	// fuzzTopicsMax and fuzzPartitionsMax: above these the harness starts over with an empty data
	// directory, so a long fuzz run does not run out of disk, file descriptors or mappings.
	fuzzTopicsMax     = 16
	fuzzPartitionsMax = 64
	// fuzzNewPartitionsMax: inputs that create more partitions are skipped. Each partition is a
	// directory and preallocated index files created on the event loop (milliseconds apiece,
	// reported by TestCreateTopicsDoesNotStallOtherConnections); thousands per input would stall
	// the fuzzer and time out its minimizer.
	fuzzNewPartitionsMax = 16
)

// recordingWriter is a netio.ResponseWriter that records every answer. Respond's parts are
// checked as netio would, file regions are read with pread and released, and the response body is
// kept for decoding.
type recordingWriter struct {
	mu    sync.Mutex
	calls []string // "Respond", "NoResponse", "Close", in order
	body  []byte   // Respond's parts, concatenated
	err   error    // a malformed Part
	done  chan struct{}
	extra *atomic.Int32 // incremented on every call after the first
}

func newRecordingWriter(extra *atomic.Int32) *recordingWriter {
	return &recordingWriter{done: make(chan struct{}), extra: extra}
}

func (w *recordingWriter) answer(kind string, body []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, kind)
	if len(w.calls) > 1 {
		if w.extra != nil {
			w.extra.Add(1)
		}
		return
	}
	w.body, w.err = body, err
	close(w.done)
}

func (w *recordingWriter) Respond(parts ...netio.Part) {
	var body []byte
	var err error
	for i, p := range parts {
		switch {
		case p.File != nil && p.Bytes != nil:
			err = errors.Join(err, fmt.Errorf("part %d has both Bytes and File", i))
		case p.File != nil:
			f := p.File
			if f.Fd < 0 || f.Offset < 0 || f.Len < 0 || f.Len > 1<<31-1 {
				err = errors.Join(err, fmt.Errorf("part %d: bad file region fd=%d offset=%d len=%d", i, f.Fd, f.Offset, f.Len))
			} else {
				buf := make([]byte, f.Len)
				if n, rerr := syscall.Pread(f.Fd, buf, f.Offset); rerr != nil || int64(n) != f.Len {
					err = errors.Join(err, fmt.Errorf("part %d: pread of %d bytes at %d: %d, %v", i, f.Len, f.Offset, n, rerr))
				}
				body = append(body, buf...)
			}
			if f.Release != nil {
				f.Release()
			}
		default:
			body = append(body, p.Bytes...)
		}
	}
	w.answer("Respond", body, err)
}

func (w *recordingWriter) NoResponse() { w.answer("NoResponse", nil, nil) }
func (w *recordingWriter) Close()      { w.answer("Close", nil, nil) }

// result returns the first answer, once given.
func (w *recordingWriter) result() (kind string, body []byte, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.calls) == 0 {
		return "", nil, nil
	}
	return w.calls[0], w.body, w.err
}

// flexibleRequest reports whether (key, version) uses request header v2, as netio decides.
func flexibleRequest(key, version int16) bool {
	req := kmsg.RequestForKey(key)
	if req == nil {
		return false
	}
	req.SetVersion(version)
	return req.IsFlexible()
}

// fuzzBroker is the broker the fuzz target serves with, reopened when it grows too big or when a
// parked request had to be answered by Close.
type fuzzBroker struct {
	root  string
	dir   string
	gen   int
	b     *Broker
	extra atomic.Int32 // answers beyond the first, over every request so far
}

func newFuzzBroker(tb testing.TB) *fuzzBroker {
	root, err := os.MkdirTemp("", "sluice-fuzz-*")
	if err != nil {
		tb.Fatal(err)
	}
	fb := &fuzzBroker{root: root}
	tb.Cleanup(func() {
		if fb.b != nil {
			fb.b.Close()
		}
		os.RemoveAll(root)
	})
	fb.open(tb, true)
	return fb
}

// open starts a broker, on a fresh directory or (fresh false) on the current one, which then
// must recover whatever the previous broker left.
func (fb *fuzzBroker) open(tb testing.TB, fresh bool) {
	tb.Helper()
	if fresh {
		if fb.dir != "" {
			os.RemoveAll(fb.dir)
		}
		fb.gen++
		fb.dir = filepath.Join(fb.root, fmt.Sprint(fb.gen))
	}
	cfg := DefaultConfig()
	cfg.LogDir = fb.dir
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.LogDefaults = log.DefaultConfig()
	cfg.LogDefaults.SegmentIndexBytes = 64 << 10 // small mappings: fuzzed CreateTopics make many
	b, err := New(cfg)
	if err != nil {
		tb.Fatalf("opening the broker on %s (fresh %v): %v", fb.dir, fresh, err)
	}
	fb.b = b
}

// closeBroker closes the broker, failing if that does not finish in time (a parked request that
// never answers makes Close wait forever).
func (fb *fuzzBroker) closeBroker(tb testing.TB) {
	tb.Helper()
	done := make(chan error, 1)
	b := fb.b
	fb.b = nil
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("broker close: %v", err)
		}
	case <-time.After(fuzzParkedWaitMax):
		tb.Fatalf("broker close did not return in %v: a parked request never finishes", fuzzParkedWaitMax)
	}
}

// serve hands one request to the broker and checks the answer.
func (fb *fuzzBroker) serve(t *testing.T, key, version int16, body []byte) {
	req := &netio.Request{
		APIKey: key, APIVersion: version, CorrelationID: 7, ClientID: "fuzz",
		Flexible: flexibleRequest(key, version),
		Body:     bytes.Clone(body), // the broker may rewrite batches in place; fuzz inputs are read-only
	}
	if n := newPartitions(key, version, body); n > fuzzNewPartitionsMax {
		t.Skipf("creates %d partitions (limit %d)", n, fuzzNewPartitionsMax)
	}
	w := newRecordingWriter(&fb.extra)
	if len(body)%2 == 1 {
		// Half the inputs go the way netio hands over a large frame arriving in pieces: to the
		// handler's stream, prefix by prefix, before ServeKafka (Produce v3+ only).
		if req.Stream = fb.b.StreamFrame(key, version); req.Stream != nil {
			off := 0
			for n := 0; n < len(req.Body); n += 1 + len(body)%61 {
				off += req.Stream.Arrived(req.Body[off:n])
				if sizer, ok := req.Stream.(netio.ElementSizer); ok && sizer.ElementRemaining() < 0 {
					t.Fatalf("stream says %d bytes end its element", sizer.ElementRemaining())
				}
			}
			req.Body = req.Body[off:]
		}
	}
	fb.b.ServeKafka(req, w)
	if key != 1 {
		select {
		case <-w.done:
		case <-time.After(fuzzSettleWait):
		}
	}
	select {
	case <-w.done:
	default:
		fb.closeBroker(t) // parked: Close must answer it
		fb.open(t, false)
		select {
		case <-w.done:
		case <-time.After(fuzzParkedWaitMax):
			t.Fatalf("key %d v%d: parked, and still unanswered %v after the broker closed", key, version, fuzzParkedWaitMax)
		}
	}
	if n := fb.extra.Load(); n > 0 {
		t.Fatalf("%d requests so far were answered more than once (this one: key %d v%d)", n, key, version)
	}
	kind, resp, err := w.result()
	if err != nil {
		t.Fatalf("key %d v%d: malformed response parts: %v", key, version, err)
	}
	switch kind {
	case "Close":
	case "NoResponse":
		if key != 0 {
			t.Fatalf("key %d v%d answered with NoResponse; only Produce with acks=0 may", key, version)
		}
	case "Respond":
		checkResponseDecodes(t, key, version, resp)
	}
	if view := *fb.b.topicsView.Load(); len(view) > fuzzTopicsMax || partitionCount(view) > fuzzPartitionsMax {
		fb.closeBroker(t)
		fb.open(t, true)
	}
}

// newPartitions is how many partitions a CreateTopics or CreatePartitions request asks for, at
// most (-1, the broker default, counts as one).
func newPartitions(key, version int16, body []byte) int64 {
	var n int64
	switch key {
	case 19:
		req := versioned(kmsg.NewPtrCreateTopicsRequest(), version)
		if req.ReadFrom(body) != nil {
			return 0
		}
		for _, t := range req.Topics {
			n += max(int64(t.NumPartitions), int64(len(t.ReplicaAssignment)), 1)
		}
	case 37:
		req := versioned(kmsg.NewPtrCreatePartitionsRequest(), version)
		if req.ReadFrom(body) != nil {
			return 0
		}
		for _, t := range req.Topics {
			n += max(int64(t.Count), int64(len(t.Assignment)))
		}
	}
	return n
}

func partitionCount(topics map[string]*topic) int {
	n := 0
	for _, t := range topics {
		n += len(t.partitions)
	}
	return n
}

// checkResponseDecodes fails unless resp is a complete response body for (key, version): decoded
// by kmsg at that version (v0 for an ApiVersions version outside the served range, KIP-511) and
// re-encoded to the same bytes.
func checkResponseDecodes(t testing.TB, key, version int16, body []byte) {
	t.Helper()
	kresp := kmsg.ResponseForKey(key)
	if kresp == nil {
		t.Fatalf("key %d v%d: answered, but kmsg knows no such key", key, version)
	}
	if a := apis[key]; key == 18 && (version < a.min || version > a.max) {
		version = 0
	}
	kresp.SetVersion(version)
	decodeFully(t, kresp, body)
}

func FuzzServeKafka(f *testing.F) {
	v3 := []byte{0x0b, 's', 'l', 'u', 'i', 'c', 'e', '-', 'r', 'a', 'w', 0x02, '1', 0}
	f.Add(int16(18), int16(99), v3)                                  // KIP-511 downgrade
	f.Add(int16(18), int16(-1), []byte{})                            // negative version
	f.Add(int16(999), int16(0), []byte{})                            // unknown key
	f.Add(int16(0), int16(9), []byte{})                              // empty body
	f.Add(int16(3), int16(1), []byte{0x7f, 0xff, 0xff, 0xff})        // array count 2^31-1
	f.Add(int16(3), int16(12), []byte{0x80, 0x80, 0x80, 0x80, 0x08}) // compact array count 2^31-1
	big := versioned(kmsg.NewPtrCreateTopicsRequest(), 4)            // many partitions in one request
	bt := kmsg.NewCreateTopicsRequestTopic()
	bt.Topic, bt.NumPartitions, bt.ReplicationFactor = "many", 50, 1
	big.Topics = append(big.Topics, bt)
	f.Add(int16(19), int16(4), big.AppendTo(nil))
	fb := newFuzzBroker(f)
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		fb.serve(t, key, version, body)
	})
}

// kafkaWireCaptures finds the captured client frames (../shared/testdata/kafka-wire beside the
// repository, as CI lays it out, or $SLUICE_KAFKA_WIRE).
func kafkaWireCaptures(t testing.TB) string {
	for _, dir := range []string{os.Getenv("SLUICE_KAFKA_WIRE"), "../../../shared/testdata/kafka-wire", "/work/shared/testdata/kafka-wire"} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
			return dir
		}
	}
	t.Fatal("kafka-wire captures not found (CI lays shared/ beside the clone); set SLUICE_KAFKA_WIRE")
	return ""
}

// splitRequestFrame splits a captured request (size prefix included) into its api key, version
// and body: request header v1, or v2 (a tagged-field section after the client id) when the
// version is flexible.
func splitRequestFrame(frame []byte) (key, version int16, body []byte, err error) {
	if len(frame) < 14 || int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
		return 0, 0, nil, fmt.Errorf("size prefix does not match %d bytes", len(frame))
	}
	p := frame[4:]
	key, version = int16(binary.BigEndian.Uint16(p)), int16(binary.BigEndian.Uint16(p[2:]))
	off := 10
	if n := int16(binary.BigEndian.Uint16(p[8:])); n > 0 {
		off += int(n)
	}
	if off > len(p) {
		return 0, 0, nil, errors.New("client id overruns the frame")
	}
	if flexibleRequest(key, version) {
		count, k := binary.Uvarint(p[off:])
		if k <= 0 {
			return 0, 0, nil, errors.New("bad header tag count")
		}
		off += k
		for range count {
			if _, k = binary.Uvarint(p[off:]); k <= 0 { // tag
				return 0, 0, nil, errors.New("bad header tag")
			}
			off += k
			size, k := binary.Uvarint(p[off:])
			if k <= 0 || size > uint64(len(p)-off-k) {
				return 0, 0, nil, errors.New("bad header tag size")
			}
			off += k + int(size)
		}
	}
	return key, version, p[off:], nil
}

// fuzzCorpusFile is the go test fuzz v1 encoding of FuzzServeKafka's arguments.
func fuzzCorpusFile(key, version int16, body []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\nint16(%d)\nint16(%d)\n[]byte(%q)\n", key, version, body)
}

// TestServeKafkaSeedCorpus keeps testdata/fuzz/FuzzServeKafka equal to the kafka-wire captures:
// one file per captured request, named <client>-<capture name>, holding its key, version and
// body. SLUICE_UPDATE_FUZZ_SEEDS=1 rewrites the files instead of comparing.
func TestServeKafkaSeedCorpus(t *testing.T) {
	update := os.Getenv("SLUICE_UPDATE_FUZZ_SEEDS") == "1"
	dir := kafkaWireCaptures(t)
	reqs, err := filepath.Glob(filepath.Join(dir, "*", "*.req"))
	if err != nil || len(reqs) == 0 {
		t.Fatalf("no .req files under %s: %v", dir, err)
	}
	sort.Strings(reqs)
	corpus := filepath.Join("testdata", "fuzz", "FuzzServeKafka")
	if update {
		if err := os.MkdirAll(corpus, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range reqs {
		frame, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		key, version, body, err := splitRequestFrame(frame)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		// The split must agree with kmsg: the body decodes fully at the captured version.
		req := kmsg.RequestForKey(key)
		req.SetVersion(version)
		if err := req.ReadFrom(body); err != nil {
			t.Fatalf("%s: body does not decode as key %d v%d: %v", path, key, version, err)
		}
		name := filepath.Base(filepath.Dir(path)) + "-" + strings.TrimSuffix(filepath.Base(path), ".req")
		want := fuzzCorpusFile(key, version, body)
		file := filepath.Join(corpus, name)
		if update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale (%v); rerun with SLUICE_UPDATE_FUZZ_SEEDS=1", file, err)
		}
	}
}
