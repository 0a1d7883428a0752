package netio

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// streamingHandler streams key 0 frames: its stream checks that each Arrived extends the last
// one's bytes (a prefix of the body that ServeKafka then gets), and ServeKafka echoes how many
// calls the stream saw and the body.
type streamingHandler struct {
	mu        sync.Mutex
	streams   []*recordingStream
	abandoned int
}

type recordingStream struct {
	h       *streamingHandler
	seen    []byte // a copy of the longest body passed to Arrived
	arrived int
	errs    []string
}

func (h *streamingHandler) StreamFrame(key, _ int16) FrameStream {
	if key != 0 {
		return nil
	}
	s := &recordingStream{h: h}
	h.mu.Lock()
	h.streams = append(h.streams, s)
	h.mu.Unlock()
	return s
}

func (s *recordingStream) Arrived(body []byte) {
	s.arrived++
	if len(body) < len(s.seen) || !bytes.Equal(body[:len(s.seen)], s.seen) {
		s.errs = append(s.errs, "Arrived's body does not extend the previous one")
	}
	s.seen = append(s.seen[:0], body...)
}

func (s *recordingStream) Abandon() {
	s.h.mu.Lock()
	s.h.abandoned++
	s.h.mu.Unlock()
}

func (h *streamingHandler) ServeKafka(req *Request, w ResponseWriter) {
	if req.APIKey == 0 && len(req.Body) >= StreamFrameMinBytes {
		s, ok := req.Stream.(*recordingStream)
		switch {
		case !ok:
			w.Respond(bytesOf([]byte("not streamed")))
		case !bytes.Equal(req.Body[:len(s.seen)], s.seen) || len(s.errs) > 0:
			w.Respond(bytesOf([]byte("stream saw other bytes")))
		case s.arrived < 2:
			w.Respond(bytesOf([]byte("stream saw the frame in fewer than two pieces")))
		default:
			w.Respond(bytesOf(append([]byte("ok"), req.Body...)))
		}
		return
	}
	if req.Stream != nil {
		w.Respond(bytesOf([]byte("streamed below the minimum or another key")))
		return
	}
	w.Respond(bytesOf(append([]byte("ok"), req.Body...)))
}

// TestServerStreamsLargeFrames: a large frame of a key the handler streams reaches its stream
// piece by piece as it arrives (each piece extending the last), then ServeKafka with the whole
// body and the stream; small frames, and large ones of other keys, are not streamed; a stream whose
// frame never completes is abandoned when the connection closes.
func TestServerStreamsLargeFrames(t *testing.T) {
	h := &streamingHandler{}
	s := startServer(t, Config{}, h)
	c := dial(t, s)
	body := make([]byte, 3*StreamFrameMinBytes)
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
	small := body[:StreamFrameMinBytes/2]
	sendSlowly(request(0, 3, 3, "stream", false, small))
	expect(3, small)
	if st := s.Stats(); st.RequestsStreamed != 1 || st.Requests != 3 {
		t.Fatalf("Stats %+v: want 3 requests, 1 streamed", st)
	}

	// A frame cut off by the client: its stream is abandoned, and the server carries on.
	frame := request(0, 3, 4, "stream", false, body)
	sendSlowly(frame[:len(frame)/2])
	eventually(t, "the half frame streamed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.streams) == 2
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
