package netio

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// testFile writes n pseudo-random bytes to a temporary file and returns it open for reading
// with its contents.
func testFile(t testing.TB, n int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	path := filepath.Join(t.TempDir(), "segment.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, data
}

// TestServerFileRegion: a response made of bytes, a large file region and more bytes arrives
// intact on both fetch paths — several pipelined, so later regions find the outbound buffer
// busy — and every region is released exactly once.
func TestServerFileRegion(t *testing.T) {
	const fileBytes = 8<<20 + 12345 // more than the socket buffers: sendfile must come up short
	f, data := testFile(t, fileBytes)
	for _, path := range []FetchPath{FetchPathSendfile, FetchPathCopy} {
		t.Run("path="+string(path), func(t *testing.T) {
			// A small send buffer makes the short write (and so the fallback) certain.
			cfg := Config{FetchPath: path, SocketSendBufferBytes: 128 << 10}
			const n = 3
			var released [n]atomic.Int32
			regions := [n][2]int64{{0, fileBytes}, {777, 1 << 20}, {fileBytes - 5, 5}} // offset, len
			s := startServer(t, cfg, HandlerFunc(func(req *Request, w ResponseWriter) {
				i := req.CorrelationID
				off, n := regions[i][0], regions[i][1]
				region := &FileRegion{Fd: int(f.Fd()), Offset: off, Len: n, Release: func() { released[i].Add(1) }}
				answer := func() { w.Respond(bytesOf([]byte("pre")), Part{File: region}, bytesOf([]byte("post"))) }
				if i == 1 {
					go answer()
				} else {
					answer()
				}
			}))
			c := dial(t, s)
			for i := int32(0); i < n; i++ {
				c.send(request(1, 11, i, "fetch", false, nil))
			}
			time.Sleep(20 * time.Millisecond) // let the socket fill before reading
			for i := int32(0); i < n; i++ {
				corr, body := c.readResponse()
				off, n := regions[i][0], regions[i][1]
				want := append(append([]byte("pre"), data[off:off+n]...), "post"...)
				if corr != i || !bytes.Equal(body, want) {
					t.Fatalf("response %d: corr %d, %d bytes, want %d", i, corr, len(body), len(want))
				}
			}
			for i := range released {
				if got := released[i].Load(); got != 1 {
					t.Errorf("region %d released %d times", i, got)
				}
			}
			var regionBytes int64
			for _, r := range regions {
				regionBytes += r[1]
			}
			wantOut := uint64(regionBytes) + n*(4+4+3+4)
			eventually(t, "bytes out to add up", func() bool {
				st := s.Stats()
				return st.BytesOutWrite+st.BytesOutSendfile == wantOut
			})
			st := s.Stats()
			switch path {
			case FetchPathSendfile:
				if st.BytesOutSendfile == 0 || st.SendfileFallbacks == 0 {
					t.Errorf("sendfile path: BytesOutSendfile %d, SendfileFallbacks %d; want both > 0",
						st.BytesOutSendfile, st.SendfileFallbacks)
				}
			case FetchPathCopy:
				if st.BytesOutSendfile != 0 || st.SendfileFallbacks != 0 {
					t.Errorf("copy path used sendfile: %+v", st)
				}
			}
		})
	}
}

// TestServerFileRegionPastEOF: a region reaching past the end of its file cannot be completed
// (its size was promised in the prefix), so the connection closes; the region is released once.
func TestServerFileRegionPastEOF(t *testing.T) {
	f, _ := testFile(t, 1000)
	for _, path := range []FetchPath{FetchPathSendfile, FetchPathCopy} {
		t.Run("path="+string(path), func(t *testing.T) {
			var released atomic.Int32
			s := startServer(t, Config{FetchPath: path}, HandlerFunc(func(req *Request, w ResponseWriter) {
				w.Respond(Part{File: &FileRegion{Fd: int(f.Fd()), Offset: 900, Len: 200, Release: func() { released.Add(1) }}})
			}))
			c := dial(t, s)
			c.send(request(1, 11, 1, "eof", false, nil))
			if f, err := c.tryReadFrame(); err == nil {
				t.Fatalf("read a whole %d-byte frame from a region past EOF", len(f))
			}
			eventually(t, "connection closed", func() bool { return s.Stats().ConnectionsOpen == 0 })
			if got := released.Load(); got != 1 {
				t.Fatalf("released %d times", got)
			}
		})
	}
}

// TestServerManyParts: more parts than writev takes at once (iovMax) are sent in order.
func TestServerManyParts(t *testing.T) {
	const parts = 3*iovMax + 17
	s := startServer(t, Config{}, HandlerFunc(func(req *Request, w ResponseWriter) {
		ps := make([]Part, parts)
		for i := range ps {
			ps[i] = bytesOf(binary.BigEndian.AppendUint16(nil, uint16(i)))
		}
		w.Respond(ps...)
	}))
	c := dial(t, s)
	c.send(request(1, 11, 1, "parts", false, nil))
	_, body := c.readResponse()
	if len(body) != 2*parts {
		t.Fatalf("%d bytes, want %d", len(body), 2*parts)
	}
	for i := range parts {
		if got := binary.BigEndian.Uint16(body[2*i:]); got != uint16(i) {
			t.Fatalf("part %d carries %d", i, got)
		}
	}
}
