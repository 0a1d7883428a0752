package netio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestServerKafkaWireHeaders sends every captured client request over TCP, one connection per
// client, and checks what the handler got against the capture's index.
func TestServerKafkaWireHeaders(t *testing.T) {
	entries := loadKafkaWire(t)
	type seen struct {
		key, version int16
		corr         int32
		clientID     string
		flexible     bool
		bodyLen      int
	}
	var mu sync.Mutex
	got := map[int32]seen{} // by a correlation id the test assigns
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		mu.Lock()
		got[req.CorrelationID] = seen{req.APIKey, req.APIVersion, req.CorrelationID, req.ClientID, req.Flexible, len(req.Body)}
		mu.Unlock()
		w.Respond(bytesOf(corrBody(req.CorrelationID)))
	}))
	byClient := map[string][]wireEntry{}
	for _, e := range entries {
		byClient[e.Client] = append(byClient[e.Client], e)
	}
	for client, es := range byClient {
		c := dial(t, s)
		for _, e := range es {
			c.send(e.frame)
			corr, body := c.readResponse()
			if corr != e.CorrelationID || !bytes.Equal(body, responseBody(e.Flexible && e.APIKey != 18, corrBody(e.CorrelationID))) {
				t.Fatalf("%s/%s: response corr %d body %x", client, e.File, corr, body)
			}
			mu.Lock()
			g := got[e.CorrelationID]
			mu.Unlock()
			checkWireHeader(t, e, g.key, g.version, g.corr, g.clientID, g.flexible)
			if g.bodyLen <= 0 && e.APIKey != 18 { // ApiVersions v0-2 has an empty body; others do not
				t.Errorf("%s/%s: empty body", client, e.File)
			}
		}
	}
	if st := s.Stats(); st.Requests != uint64(len(entries)) {
		t.Errorf("Requests = %d, want %d", st.Requests, len(entries))
	}
}

// responseBody is what follows the correlation id of a response with the given parts.
func responseBody(tagSection bool, body []byte) []byte {
	if tagSection {
		return append([]byte{0}, body...)
	}
	return body
}

// TestServerResponsesInRequestOrder: the handler answers requests out of order from goroutines
// (the first one last); the client still reads them in request order.
func TestServerResponsesInRequestOrder(t *testing.T) {
	const n = 20
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		corr := req.CorrelationID
		delay := time.Duration(n-corr) * time.Millisecond // earlier requests answer later
		if corr%5 == 4 {
			w.Respond(bytesOf(corrBody(corr))) // some synchronously, on the event loop
			return
		}
		go func() {
			time.Sleep(delay)
			w.Respond(bytesOf(corrBody(corr)))
		}()
	}))
	for _, c := range []*testClient{dial(t, s), dial(t, s)} { // two connections, both ordered
		for i := int32(0); i < n; i++ {
			c.send(request(3, 1, i, "order", false, corrBody(i)))
		}
		for i := int32(0); i < n; i++ {
			corr, body := c.readResponse()
			if corr != i || !bytes.Equal(body, corrBody(i)) {
				t.Fatalf("response %d: corr %d body %x", i, corr, body)
			}
		}
	}
}

// TestServerNoResponse: requests answered with NoResponse (acks=0) produce nothing and do not
// break the order of the others, however the answers interleave in time.
func TestServerNoResponse(t *testing.T) {
	const n = 40
	rng := rand.New(rand.NewPCG(1, 2))
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = time.Duration(rng.IntN(3000)) * time.Microsecond
	}
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		corr := req.CorrelationID
		go func() {
			time.Sleep(delays[corr%n])
			if corr%3 == 0 {
				w.NoResponse()
			} else {
				w.Respond(bytesOf(corrBody(corr)))
			}
		}()
	}))
	c := dial(t, s)
	for i := int32(0); i < n; i++ {
		c.send(request(0, 7, i, "acks0", false, nil))
	}
	for i := int32(0); i < n; i++ {
		if i%3 == 0 {
			continue
		}
		if corr, _ := c.readResponse(); corr != i {
			t.Fatalf("got correlation id %d, want %d", corr, i)
		}
	}
	// Nothing else may follow: the next request's answer is the next frame.
	c.send(request(3, 1, 1000, "acks0", false, nil))
	if corr, _ := c.readResponse(); corr != 1000 {
		t.Fatalf("got correlation id %d after the NoResponse requests, want 1000", corr)
	}
}

// TestServerResponseHeader: flexible responses carry the empty tag section, except ApiVersions,
// whose response header is always v0; non-flexible ones have none. Empty responses are legal.
func TestServerResponseHeader(t *testing.T) {
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		if len(req.Body) == 0 {
			w.Respond()
			return
		}
		w.Respond(bytesOf(req.Body[:1]), Part{}, bytesOf(req.Body[1:])) // parts may alias Body; empty parts are skipped
	}))
	c := dial(t, s)
	tests := []struct {
		name          string
		key, version  int16
		flexible      bool
		body, wantRsp []byte
	}{
		{"Metadata v12 flexible", 3, 12, true, []byte("ab"), []byte{0, 'a', 'b'}},
		{"Metadata v8", 3, 8, false, []byte("ab"), []byte("ab")},
		{"ApiVersions v3 flexible, header v0", 18, 3, true, []byte("ab"), []byte("ab")},
		{"ApiVersions v0", 18, 0, false, []byte("ab"), []byte("ab")},
		{"Fetch v12 empty response", 1, 12, true, nil, []byte{0}},
		{"unknown key", 30000, 0, false, []byte("ab"), []byte("ab")},
	}
	for i, tt := range tests {
		c.send(request(tt.key, tt.version, int32(i), "hdr", tt.flexible, tt.body))
		corr, rsp := c.readResponse()
		if corr != int32(i) || !bytes.Equal(rsp, tt.wantRsp) {
			t.Errorf("%s: corr %d response %x, want %x", tt.name, corr, rsp, tt.wantRsp)
		}
	}
}

// TestServerRejectsBadFrames: a bad size prefix or header closes that connection only.
func TestServerRejectsBadFrames(t *testing.T) {
	const maxBytes = 1 << 16
	s := startServer(t, Config{SocketRequestMaxBytes: maxBytes}, HandlerFunc(func(req *Request, w ResponseWriter) {
		w.Respond(bytesOf(corrBody(req.CorrelationID)))
	}))
	size := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	// A 13-byte frame: key, version, correlation id, then a client id claiming 20 bytes of 3.
	malformed := append(size(13), appendRequestHeader(nil, 3, 1, 1, []byte("abc"), nil)...)
	malformed[4+9] = 20
	flexibleNoTags := request(3, 9, 1, "x", false, nil) // v9 is flexible but the tag section is missing
	tests := []struct {
		name  string
		frame []byte
	}{
		{"size over socket.request.max.bytes", append(size(maxBytes+1), make([]byte, 64)...)},
		{"size 2^31-1", size(1<<31 - 1)},
		{"negative size", size(-1)},
		{"size -2^31", size(-1 << 31)},
		{"size 0", size(0)},
		{"truncated header", append(size(8), make([]byte, 8)...)},
		{"client id past the frame", malformed},
		{"flexible version without tag section", flexibleNoTags},
		{"TLS client hello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}},
	}
	good := dial(t, s)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejectedBefore := s.Stats().FramesRejected
			bad := dial(t, s)
			bad.send(request(3, 1, 1, "bad", false, nil)) // a good request first: served
			if corr, _ := bad.readResponse(); corr != 1 {
				t.Fatalf("corr %d", corr)
			}
			bad.send(tt.frame)
			bad.expectClosed()
			if got := s.Stats().FramesRejected; got != rejectedBefore+1 {
				t.Errorf("FramesRejected went from %d to %d", rejectedBefore, got)
			}
			good.send(request(3, 1, int32(i), "good", false, nil)) // the other connection carries on
			if corr, _ := good.readResponse(); corr != int32(i) {
				t.Fatalf("good connection: corr %d, want %d", corr, i)
			}
		})
	}
}

// TestServerFrameAtLimit: a frame of exactly SocketRequestMaxBytes is served, also when it
// arrives in small pieces.
func TestServerFrameAtLimit(t *testing.T) {
	const maxBytes = 300 << 10 // several gnet reads (64 KiB each)
	s := startServer(t, Config{SocketRequestMaxBytes: maxBytes}, HandlerFunc(func(req *Request, w ResponseWriter) {
		w.Respond(bytesOf(corrBody(int32(len(req.Body)))))
	}))
	frame := request(0, 7, 5, "big", false, nil)
	frame = append(frame, make([]byte, maxBytes-(len(frame)-4))...)
	binary.BigEndian.PutUint32(frame, maxBytes)
	for i := range frame[4+13:] {
		frame[4+13+i] = byte(i)
	}
	c := dial(t, s)
	for rest := frame; len(rest) > 0; { // dribble it in
		n := min(len(rest), 7919)
		c.send(rest[:n])
		rest = rest[n:]
	}
	if corr, body := c.readResponse(); corr != 5 || !bytes.Equal(body, corrBody(maxBytes-13)) {
		t.Fatalf("corr %d body %x", corr, body)
	}
}

// TestServerHandlerClose: Close closes the connection after every earlier response, and later
// requests are dropped.
func TestServerHandlerClose(t *testing.T) {
	var released atomic.Int32
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		corr := req.CorrelationID
		switch corr {
		case 0:
			go func() { time.Sleep(20 * time.Millisecond); w.Respond(bytesOf(corrBody(corr))) }()
		case 1:
			w.Close()
		default:
			w.Respond(Part{File: &FileRegion{Fd: 0, Len: 0, Release: func() { released.Add(1) }}})
		}
	}))
	c := dial(t, s)
	c.send(request(3, 1, 0, "c", false, nil), request(30000, 1, 1, "c", false, nil), request(3, 1, 2, "c", false, nil))
	if corr, _ := c.readResponse(); corr != 0 {
		t.Fatalf("corr %d, want 0", corr)
	}
	c.expectClosed()
	eventually(t, "connection closed", func() bool { return s.Stats().ConnectionsOpen == 0 })
	if r := released.Load(); r > 1 {
		t.Fatalf("Release called %d times", r)
	}
}

// TestServerAnswerTwicePanics: a second answer is a programmer error. (Answered twice within
// ServeKafka, while netio certainly holds the request: once its answer is written netio reuses
// the ResponseWriter, and a late second answer is undefined.)
func TestServerAnswerTwicePanics(t *testing.T) {
	var second atomic.Value
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		w.Respond(bytesOf(corrBody(1)))
		defer func() { second.Store(fmt.Sprint(recover())) }()
		w.NoResponse()
	}))
	c := dial(t, s)
	c.send(request(3, 1, 7, "twice", false, nil))
	if corr, body := c.readResponse(); corr != 7 || !bytes.Equal(body, corrBody(1)) {
		t.Fatalf("response %d %x, want the first answer", corr, body)
	}
	if got, _ := second.Load().(string); !strings.Contains(got, "answered twice") {
		t.Fatalf("second answer: recovered %q, want the answered-twice panic", got)
	}
}

// TestServerStats: counters move with connections, requests and bytes.
func TestServerStats(t *testing.T) {
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		w.Respond(bytesOf(make([]byte, 100)))
	}))
	c := dial(t, s)
	frame := request(3, 1, 1, "stats", false, make([]byte, 50))
	c.send(frame, frame)
	c.readResponse()
	c.readResponse()
	want := Stats{ConnectionsOpen: 1, ConnectionsAccepted: 1, Requests: 2, BytesIn: uint64(2 * len(frame)),
		BytesOutWrite: 2 * (4 + 4 + 100)}
	// The counters move just after the bytes leave, so the client can be a moment ahead.
	eventually(t, "Stats to match", func() bool { return s.Stats() == want })
	_ = c.conn.Close()
	eventually(t, "ConnectionsOpen 0", func() bool { return s.Stats().ConnectionsOpen == 0 })
}

// TestServerMaxInFlight: a connection with MaxInFlightPerConn unanswered requests is not read
// further; answering resumes it, in order.
func TestServerMaxInFlight(t *testing.T) {
	const limit, n = 4, 10
	h := &parkingHandler{}
	s := startServer(t, Config{MaxInFlightPerConn: limit}, h)
	c := dial(t, s)
	for i := int32(0); i < n; i++ {
		c.send(request(1, 4, i, "inflight", false, nil))
	}
	eventually(t, "the first requests", func() bool { return h.count() == limit })
	time.Sleep(20 * time.Millisecond)
	if got := h.count(); got != limit {
		t.Fatalf("handler got %d requests with %d in flight allowed", got, limit)
	}
	if s.Stats().Mutes == 0 {
		t.Error("Mutes did not move")
	}
	other := dial(t, s) // the limit is per connection
	other.send(request(1, 4, 99, "other", false, nil))
	eventually(t, "the other connection's request", func() bool { return h.count() == limit+1 })
	_, w := h.get(limit)
	w.Respond()
	if corr, _ := other.readResponse(); corr != 99 {
		t.Fatalf("other: corr %d", corr)
	}
	// Answer the rest from newest to oldest as they arrive; responses still come in order.
	answered := map[int]bool{limit: true}
	go func() {
		for len(answered) < n+1 {
			for i := h.count() - 1; i >= 0; i-- {
				if !answered[i] {
					answered[i] = true
					req, w := h.get(i)
					w.Respond(bytesOf(corrBody(req.CorrelationID)))
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := int32(0); i < n; i++ {
		if corr, body := c.readResponse(); corr != i || !bytes.Equal(body, corrBody(i)) {
			t.Fatalf("response %d: corr %d body %x", i, corr, body)
		}
	}
}

// TestServerOutboundHighWater: a client that sends but does not read stops being read once its
// responses pile up, and is served completely once it reads.
func TestServerOutboundHighWater(t *testing.T) {
	const n, rspBytes = 40, 256 << 10
	payload := bytes.Repeat([]byte{0xab}, rspBytes)
	s := startServer(t, Config{OutboundHighWaterBytes: 1 << 20}, HandlerFunc(func(req *Request, w ResponseWriter) {
		w.Respond(bytesOf(corrBody(req.CorrelationID)), bytesOf(payload))
	}))
	c := dial(t, s)
	for i := int32(0); i < n; i++ {
		c.send(request(1, 4, i, "slow", false, nil))
	}
	eventually(t, "the connection muted", func() bool { return s.Stats().Mutes > 0 })
	time.Sleep(20 * time.Millisecond)
	if got := s.Stats().Requests; got >= n {
		t.Fatalf("all %d requests consumed while the client read nothing", got)
	}
	for i := int32(0); i < n; i++ {
		corr, body := c.readResponse()
		if corr != i || !bytes.Equal(body[:4], corrBody(i)) || !bytes.Equal(body[4:], payload) {
			t.Fatalf("response %d: corr %d, %d bytes", i, corr, len(body))
		}
	}
	if got := s.Stats().Requests; got != n {
		t.Fatalf("Requests = %d, want %d", got, n)
	}
}

// TestServerInboundOverflow: a muted connection that keeps sending is closed once its unconsumed
// bytes pass InboundBufferedBytesMax; another connection is unaffected.
func TestServerInboundOverflow(t *testing.T) {
	const maxBytes = 1024
	h := &parkingHandler{}
	s := startServer(t, Config{SocketRequestMaxBytes: maxBytes, InboundBufferedBytesMax: 4 * maxBytes, MaxInFlightPerConn: 1}, h)
	c := dial(t, s)
	frame := request(0, 7, 1, "flood", false, make([]byte, 500))
	for range 20 {
		if _, err := c.conn.Write(frame); err != nil {
			break // already closed (reset)
		}
	}
	c.expectClosed()
	if got := s.Stats().InboundOverflows; got != 1 {
		t.Fatalf("InboundOverflows = %d", got)
	}
	_, w := h.get(0)
	w.Respond() // after the close: dropped, no panic
	other := dial(t, s)
	other.send(request(3, 1, 2, "other", false, nil))
	eventually(t, "the other request", func() bool { return h.count() == 2 })
}

// TestServerAnswersAfterClose: answers to a connection that has gone (client closed, or the
// server stopped) are dropped, and their file regions released exactly once.
func TestServerAnswersAfterClose(t *testing.T) {
	h := &parkingHandler{}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	for i := int32(0); i < 3; i++ {
		c.send(request(1, 4, i, "gone", false, nil))
	}
	eventually(t, "requests", func() bool { return h.count() == 3 })
	var released [3]atomic.Int32
	region := func(i int) Part {
		return Part{File: &FileRegion{Fd: 0, Len: 10, Release: func() { released[i].Add(1) }}}
	}
	// Request 1 answered before the close: queued behind request 0, released by OnClose.
	_, w1 := h.get(1)
	w1.Respond(region(1))
	_ = c.conn.Close()
	eventually(t, "connection closed", func() bool { return s.Stats().ConnectionsOpen == 0 })
	_, w0 := h.get(0)
	w0.Respond(region(0)) // after the close: released by Respond
	s.Stop()
	_, w2 := h.get(2)
	w2.Respond(region(2)) // after Stop
	for i := range released {
		// A region the page-cache check calls cold (fd 0 is whatever stdin the test runs with) is
		// read and released off the event loop, after Respond returned.
		eventually(t, fmt.Sprintf("region %d released", i), func() bool { return released[i].Load() > 0 })
		if got := released[i].Load(); got != 1 {
			t.Errorf("region %d released %d times", i, got)
		}
	}
}

// TestServerStartStop: Stop before Start is a no-op, Stop twice is fine, a bad address fails
// Start, and config errors fail NewServer.
func TestServerStartStop(t *testing.T) {
	s, err := NewServer(Config{Addr: "127.0.0.1:0"}, HandlerFunc(func(*Request, ResponseWriter) {}))
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	startServer(t, Config{}, HandlerFunc(func(*Request, ResponseWriter) {})).Stop() // and again in Cleanup

	bad, err := NewServer(Config{Addr: "127.0.0.1:-5"}, HandlerFunc(func(*Request, ResponseWriter) {}))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Start(t.Context()); err == nil {
		bad.Stop()
		t.Fatal("Start on a bad address succeeded")
	}
	for _, cfg := range []Config{
		{},
		{Addr: "x", FetchPath: "mmap"},
		{Addr: "x", MaxInFlightPerConn: -1},
		{Addr: "x", SocketRequestMaxBytes: 5},
		{Addr: "x", SocketRequestMaxBytes: 1 << 20, InboundBufferedBytesMax: 1 << 19},
	} {
		if _, err := NewServer(cfg, HandlerFunc(func(*Request, ResponseWriter) {})); err == nil {
			t.Errorf("NewServer(%+v) succeeded", cfg)
		}
	}
}

// TestServerConcurrentClients: many connections on several loops, answers from many goroutines
// at random moments, some synchronous, some NoResponse; every connection reads its responses in
// order.
func TestServerConcurrentClients(t *testing.T) {
	const conns, n = 8, 300
	s := startServer(t, Config{NumEventLoop: 3, MaxInFlightPerConn: 16}, HandlerFunc(func(req *Request, w ResponseWriter) {
		corr := req.CorrelationID
		answer := func() {
			if corr%7 == 3 {
				w.NoResponse()
			} else {
				w.Respond(bytesOf(corrBody(corr)), bytesOf(req.Body)) // Body stays valid until written
			}
		}
		switch corr % 3 {
		case 0:
			answer()
		case 1:
			go answer()
		default:
			time.AfterFunc(time.Duration(corr%5)*50*time.Microsecond, answer)
		}
	}))
	var wg sync.WaitGroup
	for k := range conns {
		c := dial(t, s)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := int32(0); i < n; i++ {
				if _, err := c.conn.Write(request(1, 4, i, "many", false, corrBody(int32(k)))); err != nil {
					t.Errorf("conn %d: %v", k, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := int32(0); i < n; i++ {
				if i%7 == 3 {
					continue
				}
				f, err := c.tryReadFrame()
				if err != nil {
					t.Errorf("conn %d: %v", k, err)
					return
				}
				// Correlation id, then the body: the request number and the connection's echoed Body.
				if want := append(append(corrBody(i), corrBody(i)...), corrBody(int32(k))...); !bytes.Equal(f, want) {
					t.Errorf("conn %d response %d: %x", k, i, f)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// inPlaceEchoHandler serves key 0 in place, echoing a copy of the body at once, and copies every
// other key, echoing the body itself (aliasing netio's pooled frame) later from another goroutine.
type inPlaceEchoHandler struct{ wg sync.WaitGroup }

func (h *inPlaceEchoHandler) ServesInPlace(key, _ int16) bool { return key == 0 }

func (h *inPlaceEchoHandler) ServeKafka(req *Request, w ResponseWriter) {
	if req.APIKey == 0 {
		w.Respond(bytesOf(append([]byte(nil), req.Body...)))
		return
	}
	body := req.Body
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		w.Respond(bytesOf(body))
	}()
}

// TestServerInPlace: frames that arrive whole are served from gnet's buffer when the handler
// allows it, frames that arrive in pieces are assembled, others are copied, and every body
// reaches the handler intact, in order, whichever path it took.
func TestServerInPlace(t *testing.T) {
	h := &inPlaceEchoHandler{}
	s := startServer(t, Config{}, h)
	t.Cleanup(h.wg.Wait)
	c := dial(t, s)
	body := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	expectEcho := func(corr int32, want []byte) {
		t.Helper()
		gotCorr, got := c.readResponse()
		if gotCorr != corr || !bytes.Equal(got, want) {
			t.Fatalf("response %d (%d bytes), want %d (%d bytes) echoing the request body", gotCorr, len(got), corr, len(want))
		}
	}

	// One small frame, written whole: served in place.
	b := body(100, 1)
	c.send(request(0, 3, 1, "inplace", false, b))
	expectEcho(1, b)
	if st := s.Stats(); st.RequestsInPlace != 1 || st.Requests != 1 {
		t.Fatalf("Stats %+v: want 1 request, served in place", st)
	}

	// One frame in two writes, the second only once the server has seen the first: assembled.
	b = body(5000, 2)
	frame := request(0, 3, 2, "inplace", false, b)
	c.send(frame[:1000])
	eventually(t, "the frame's start consumed", func() bool {
		return s.Stats().BytesIn == uint64(len(request(0, 3, 1, "inplace", false, body(100, 1)))+len(frame))
	})
	c.send(frame[1000:])
	expectEcho(2, b)
	if st := s.Stats(); st.RequestsInPlace != 1 || st.Requests != 2 {
		t.Fatalf("Stats %+v: want 2 requests, only the first in place", st)
	}

	// A stream of both kinds and many sizes, written at once from another goroutine (gnet reads
	// 64 KiB at a time, so frames straddle reads): every answer right and in order.
	var frames [][]byte
	var bodies [][]byte
	for i := range 200 {
		key := int16(i % 3 % 2) // 0, 1, 0, 0, 1, 0, ...
		b := body(1+(i*7919)%150000, byte(i))
		frames = append(frames, request(key, 3, int32(100+i), "inplace", false, b))
		bodies = append(bodies, b)
	}
	go func() {
		_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		for _, f := range frames {
			if _, err := c.conn.Write(f); err != nil {
				return // the reads below fail the test
			}
		}
	}()
	for i := range frames {
		expectEcho(int32(100+i), bodies[i])
	}
	if st := s.Stats(); st.Requests != 202 {
		t.Fatalf("Stats %+v: want 202 requests", st)
	}
}

// TestServerRecycledParts: response bytes handed over with Recycle reach the client intact, even
// with many answers in flight from other goroutines reusing the pool (a buffer recycled before it
// was written would carry a later response's bytes).
func TestServerRecycledParts(t *testing.T) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		corr := req.CorrelationID
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := NewBuffer(64)
			for range 300 { // grows past the pooled capacity: the grown array is pooled instead
				buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
			}
			w.Respond(Part{Bytes: buf, Recycle: true}, Part{Bytes: NewBuffer(1), Recycle: true},
				Part{Bytes: append(NewBuffer(4), corrBody(corr)...), Recycle: true})
		}()
	}))
	c := dial(t, s)
	const n = 300
	go func() {
		_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		for i := range n {
			if _, err := c.conn.Write(request(3, 1, int32(i), "recycle", false, nil)); err != nil {
				return // the reads below fail the test
			}
		}
	}()
	for i := range n {
		corr, body := c.readResponse()
		want := bytes.Repeat(corrBody(int32(i)), 301)
		if corr != int32(i) || !bytes.Equal(body, want) {
			t.Fatalf("response %d: corr %d, %d bytes; want %d bytes of its own correlation id", i, corr, len(body), len(want))
		}
	}
}

// TestServerFramingUnderLimits: frames of many sizes, written in random pieces, on a connection
// that may have one request in flight and a small outbound limit, answered from other goroutines:
// frames are assembled while the connection is muted, served in place or copied, and every answer
// comes back intact and in order.
func TestServerFramingUnderLimits(t *testing.T) {
	h := &laterEchoHandler{}
	s := startServer(t, Config{MaxInFlightPerConn: 1, OutboundHighWaterBytes: 64 << 10}, h)
	t.Cleanup(h.wg.Wait)
	c := dial(t, s)
	rng := rand.New(rand.NewPCG(3, 4))
	var stream []byte
	var bodies [][]byte
	for i := range 120 {
		b := make([]byte, 1+rng.IntN(200000))
		for j := range b {
			b[j] = byte(i + j)
		}
		stream = append(stream, request(int16(i%2), 3, int32(i), "limits", false, b)...)
		bodies = append(bodies, b)
	}
	go func() {
		_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		for len(stream) > 0 {
			n := min(len(stream), 1+rng.IntN(100000))
			if _, err := c.conn.Write(stream[:n]); err != nil {
				return // the reads below fail the test
			}
			stream = stream[n:]
		}
	}()
	for i, want := range bodies {
		corr, got := c.readResponse()
		if corr != int32(i) || !bytes.Equal(got, want) {
			t.Fatalf("response %d: corr %d, %d bytes; want %d bytes of its request's body", i, corr, len(got), len(want))
		}
	}
	if st := s.Stats(); st.Requests != 120 || st.Mutes == 0 {
		t.Fatalf("Stats %+v: want 120 requests and some mutes", st)
	}
}

// laterEchoHandler serves key 0 in place and copies other keys; it echoes a copy of every body
// from another goroutine, after ServeKafka has returned.
type laterEchoHandler struct{ wg sync.WaitGroup }

func (h *laterEchoHandler) ServesInPlace(key, _ int16) bool { return key == 0 }

func (h *laterEchoHandler) ServeKafka(req *Request, w ResponseWriter) {
	body := append([]byte(nil), req.Body...) // in place, Body is gone once this returns
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		w.Respond(bytesOf(body))
	}()
}
