package netio

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// streamingHandler streams key 0 frames: its stream consumes half of what each Arrived passes and
// checks that the next call starts with the rest; ServeKafka puts the consumed bytes and its Body
// back together and echoes the whole body.
type streamingHandler struct {
	mu        sync.Mutex
	streams   []*recordingStream
	abandoned int
	parked    []ResponseWriter // key 3 requests, answered by the test
}

type recordingStream struct {
	h        *streamingHandler
	hold     int    // consume nothing until the body passed is this long (an element larger than the window)
	consumed []byte // a copy of every byte consumed so far
	left     []byte // a copy of what the last Arrived left unconsumed
	arrived  int
	errs     []string
}

func (h *streamingHandler) StreamFrame(key, _ int16) FrameStream {
	if key == 4 {
		return &sizedStream{elementBytes: sizedElementBytes}
	}
	if key != 0 && key != 2 {
		return nil
	}
	s := &recordingStream{h: h}
	if key == 2 {
		s.hold = streamWindowBytes + streamWindowBytes/2
	}
	h.mu.Lock()
	h.streams = append(h.streams, s)
	h.mu.Unlock()
	return s
}

func (s *recordingStream) Arrived(body []byte) int {
	s.arrived++
	if !bytes.HasPrefix(body, s.left) {
		s.errs = append(s.errs, "Arrived's body does not start with what the last call left")
	}
	n := len(body) / 2
	if len(body) < s.hold {
		n = 0
	}
	s.consumed = append(s.consumed, body[:n]...)
	s.left = append(s.left[:0], body[n:]...)
	return n
}

func (s *recordingStream) Abandon() {
	s.h.mu.Lock()
	s.h.abandoned++
	s.h.mu.Unlock()
}

func (h *streamingHandler) ServeKafka(req *Request, w ResponseWriter) {
	if req.APIKey == 3 {
		h.mu.Lock()
		h.parked = append(h.parked, w)
		h.mu.Unlock()
		return
	}
	if s, ok := req.Stream.(*sizedStream); ok {
		if s.err == "" && len(s.fronts) != 1 {
			s.err = fmt.Sprintf("reads after a fully consumed element went to %d places, not the window's front", len(s.fronts))
		}
		if s.err != "" {
			w.Respond(bytesOf([]byte(s.err)))
			return
		}
		w.Respond(bytesOf(append(append([]byte("ok"), s.consumed...), req.Body...)))
		return
	}
	if s, ok := req.Stream.(*recordingStream); ok {
		switch {
		case !bytes.HasPrefix(req.Body, s.left) || len(s.errs) > 0:
			w.Respond(bytesOf([]byte("stream saw other bytes")))
		case s.arrived < 2:
			w.Respond(bytesOf([]byte("stream saw the frame in fewer than two pieces")))
		default:
			w.Respond(bytesOf(append(append([]byte("ok"), s.consumed...), req.Body...)))
		}
		return
	}
	if req.APIKey == 0 && len(req.Body) >= StreamFrameMinBytes {
		w.Respond(bytesOf([]byte("not streamed")))
		return
	}
	if req.Stream != nil {
		w.Respond(bytesOf([]byte("streamed below the minimum or another key")))
		return
	}
	w.Respond(bytesOf(append([]byte("ok"), req.Body...)))
}

// TestServerStreamsLargeFrames: a large frame of a key the handler streams reaches its stream
// piece by piece as it arrives, each piece starting with what the stream left unconsumed, then
// ServeKafka with the rest and the stream — through a window that drops consumed bytes, and
// grows when the stream consumes nothing for longer than the window holds. Small frames, and large
// ones of other keys, are not streamed; a stream whose frame never completes is abandoned when the
// connection closes.
func TestServerStreamsLargeFrames(t *testing.T) {
	h := &streamingHandler{}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	body := make([]byte, 2*streamWindowBytes) // larger than the window: served through it
	for i := range body {
		body[i] = byte(i * 31)
	}
	expect := func(corr int32, want []byte) {
		t.Helper()
		gotCorr, got := c.readResponse()
		if gotCorr != corr || !bytes.Equal(got, append([]byte("ok"), want...)) {
			t.Fatalf("response %d: %.60q (%d bytes), want ok and the %d-byte body", gotCorr, got, len(got), len(want))
		}
	}
	// Written in 64 KiB pieces with pauses, so the server sees the frame arrive over many reads.
	sendSlowly := func(frame []byte) {
		for off := 0; off < len(frame); off += 64 << 10 {
			c.send(frame[off:min(off+64<<10, len(frame))])
			time.Sleep(time.Millisecond)
		}
	}
	sendSlowly(request(0, 3, 1, "stream", false, body))
	expect(1, body)
	sendSlowly(request(1, 3, 2, "stream", false, body)) // a key the handler does not stream
	expect(2, body)
	// A stream that consumes nothing until 3 MiB are in: the window grows to hold them.
	sendSlowly(request(2, 3, 22, "stream", false, body))
	expect(22, body)
	small := body[:StreamFrameMinBytes/2]
	sendSlowly(request(0, 3, 3, "stream", false, small))
	expect(3, small)
	if st := s.Stats(); st.RequestsStreamed != 2 || st.Requests != 4 {
		t.Fatalf("Stats %+v: want 4 requests, 2 streamed", st)
	}

	// A frame cut off by the client: its stream is abandoned, and the server carries on.
	frame := request(0, 3, 4, "stream", false, body)
	sendSlowly(frame[:len(frame)/2])
	eventually(t, "the half frame streamed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.streams) == 3
	})
	_ = c.conn.Close()
	eventually(t, "the cut-off frame's stream abandoned", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.abandoned == 1
	})
	c = dial(t, s)
	sendSlowly(request(0, 3, 5, "stream", false, body))
	expect(5, body)
}

// TestServerStreamAfterClose: a Close answered (from another goroutine) while a large frame is
// streaming behind an earlier request still pending: the rest of the frame reaches the stream no
// more and is dropped as it arrives — the window keeps room for it — the earlier request's answer
// still goes out, then the connection closes, the stream is abandoned, and the server serves
// other connections.
func TestServerStreamAfterClose(t *testing.T) {
	h := &streamingHandler{}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	body := make([]byte, 3*streamWindowBytes)
	frame := request(0, 3, 3, "stream", false, body)
	c.send(request(3, 0, 1, "stream", false, nil), request(3, 0, 2, "stream", false, nil))
	c.send(frame[:streamWindowBytes/2])
	eventually(t, "both parked and the large frame streaming", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.parked) == 2 && len(h.streams) == 1
	})
	h.mu.Lock()
	first, second := h.parked[0], h.parked[1]
	h.mu.Unlock()
	second.Close() // the connection closes once the first is answered
	// The rest of the frame, more than the window holds, arrives while the first is pending.
	c.send(frame[streamWindowBytes/2:])
	eventually(t, "the whole frame read", func() bool {
		return s.Stats().BytesIn >= uint64(2*len(request(3, 0, 1, "stream", false, nil))+len(frame))
	})
	first.Respond(bytesOf([]byte("first")))
	if corr, got := c.readResponse(); corr != 1 || string(got) != "first" {
		t.Fatalf("response %d %q, want 1 \"first\"", corr, got)
	}
	c.expectClosed()
	eventually(t, "the stream abandoned", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.abandoned == 1
	})
	other := dial(t, s)
	other.send(request(1, 0, 9, "other", false, []byte("x")))
	if corr, got := other.readResponse(); corr != 9 || string(got) != "okx" {
		t.Fatalf("another connection: response %d %q, want 9 \"okx\"", corr, got)
	}
}

// sizedElementBytes: the elements of a sizedStream, larger than one read (streamReadBytes) and
// not a multiple of it, so reads that ignore where elements end straddle them.
const sizedElementBytes = streamReadBytes + 40_000

// sizedStream consumes its body in whole elements of elementBytes and says where the next one
// ends (ElementSizer). It records the first Arrived whose body reaches past the end of its first
// element: a read that went on past the element's end.
type sizedStream struct {
	elementBytes int
	consumed     []byte
	left         int // bytes of the current element handed over so far
	arrived      int
	err          string
	// fronts: where the bodies handed over after everything before them was consumed start;
	// netio then reads into the window's front, so there is one.
	fronts map[*byte]bool
}

func (s *sizedStream) Arrived(body []byte) int {
	s.arrived++
	if s.left == 0 && s.arrived > 1 && len(body) > 0 {
		if s.fronts == nil {
			s.fronts = map[*byte]bool{}
		}
		s.fronts[unsafe.SliceData(body)] = true
	}
	if len(body) > s.elementBytes && s.err == "" {
		s.err = fmt.Sprintf("Arrived %d was handed %d bytes, past the end of a %d-byte element", s.arrived, len(body), s.elementBytes)
	}
	n := len(body) / s.elementBytes * s.elementBytes
	s.consumed = append(s.consumed, body[:n]...)
	s.left = len(body) - n
	return n
}

func (s *sizedStream) ElementRemaining() int { return s.elementBytes - s.left }

func (s *sizedStream) Abandon() {}

// TestServerStreamReadsEndWithElements: a streamed frame larger than the window, written at once,
// whose stream says where its elements end (ElementSizer): no read goes past the end of the
// element the stream waits for, so each Arrived holds at most one element and the stream consumes
// everything it is handed; once it has, the next read goes to the window's front (the memory
// the last reads left in the cache); the bytes reach the handler whole and in order.
func TestServerStreamReadsEndWithElements(t *testing.T) {
	h := &streamingHandler{}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	body := make([]byte, 12*sizedElementBytes) // larger than the window: served through it
	for i := range body {
		body[i] = byte(i * 7)
	}
	for corr := int32(1); corr <= 3; corr++ {
		c.send(request(4, 3, corr, "sized", false, body))
		gotCorr, got := c.readResponse()
		if gotCorr != corr || !bytes.Equal(got, append([]byte("ok"), body...)) {
			t.Fatalf("response %d: %.100q (%d bytes), want ok and the %d-byte body", gotCorr, got, len(got), len(body))
		}
	}
	if st := s.Stats(); st.RequestsStreamed != 3 {
		t.Fatalf("Stats %+v: want 3 requests streamed", st)
	}
}
