package netio

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestServerColdRead: a response whose file region is not in the page cache is read off the event
// loop. While that read is held up, another connection on the same (single) loop is answered; the
// cold response then arrives intact, before the answer queued behind it on its own connection, and
// its region is released once.
func TestServerColdRead(t *testing.T) {
	const fileBytes = 2*copyChunkBytes + 4321 // several chunks
	f, data := testFile(t, fileBytes)
	var released atomic.Int32
	s, err := NewServer(Config{Addr: "127.0.0.1:0", NumEventLoop: 1}, HandlerFunc(func(req *Request, w ResponseWriter) {
		if req.APIKey != 1 {
			w.Respond(bytesOf(corrBody(req.CorrelationID)))
			return
		}
		region := &FileRegion{Fd: int(f.Fd()), Offset: 10, Len: fileBytes - 10, Release: func() { released.Add(1) }}
		w.Respond(bytesOf([]byte("pre")), Part{File: region}, bytesOf([]byte("post")))
	}))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	s.coldCheck = func(*FileRegion) bool { return false } // every region is cold
	s.coldReadHook = func() { <-gate }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	a, b := dial(t, s), dial(t, s)
	a.send(request(1, 11, 1, "cold", false, nil), request(3, 1, 2, "cold", false, nil))
	eventually(t, "the cold read to start", func() bool { return s.Stats().ColdReads == 1 })
	b.send(request(3, 1, 3, "other", false, nil))
	if corr, _ := b.readResponse(); corr != 3 {
		t.Fatalf("other connection: corr %d, want 3", corr)
	}
	close(gate)
	corr, body := a.readResponse()
	want := append(append([]byte("pre"), data[10:]...), "post"...)
	if corr != 1 || !bytes.Equal(body, want) {
		t.Fatalf("cold response: corr %d, %d bytes; want corr 1, %d bytes of the region", corr, len(body), len(want))
	}
	if corr, _ := a.readResponse(); corr != 2 {
		t.Fatalf("after the cold response: corr %d, want 2", corr)
	}
	if got := released.Load(); got != 1 {
		t.Fatalf("region released %d times, want 1", got)
	}
}

// TestServerColdReadFails: a cold region that cannot be read (past the end of its file) closes
// the connection, and is released once.
func TestServerColdReadFails(t *testing.T) {
	f, _ := testFile(t, 1000)
	var released atomic.Int32
	s, err := NewServer(Config{Addr: "127.0.0.1:0"}, HandlerFunc(func(req *Request, w ResponseWriter) {
		w.Respond(Part{File: &FileRegion{Fd: int(f.Fd()), Offset: 500, Len: 1000, Release: func() { released.Add(1) }}})
	}))
	if err != nil {
		t.Fatal(err)
	}
	s.coldCheck = func(*FileRegion) bool { return false }
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c := dial(t, s)
	c.send(request(1, 11, 1, "cold", false, nil))
	c.expectClosed()
	eventually(t, "the region released", func() bool { return released.Load() == 1 })
}

// TestRegionCached: cachestat sees freshly written pages as cached and a never-written hole of a
// sparse file as not; without cachestat (kernels before 6.5) every region counts as cached.
func TestRegionCached(t *testing.T) {
	f, _ := testFile(t, 64<<10)
	s, err := NewServer(Config{Addr: "127.0.0.1:0"}, HandlerFunc(func(*Request, ResponseWriter) {}))
	if err != nil {
		t.Fatal(err)
	}
	if !s.regionCached(&FileRegion{Fd: int(f.Fd()), Offset: 100, Len: 60 << 10}) {
		t.Fatal("freshly written region reported not cached")
	}
	sparse, err := os.Create(filepath.Join(t.TempDir(), "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	defer sparse.Close()
	if err := sparse.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	cached := s.regionCached(&FileRegion{Fd: int(sparse.Fd()), Offset: 0, Len: 1 << 20})
	if s.noCachestat.Load() {
		if !cached {
			t.Fatal("without cachestat a region must count as cached")
		}
		t.Log("cachestat(2) unavailable: checked the fallback only")
		return
	}
	if cached {
		t.Fatal("a never-written hole reported cached")
	}
}
