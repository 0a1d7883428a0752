package netio

// Benchmarks of the served path over loopback: a real Server, a raw TCP client in the same
// process. Figures include the client's work (its reads, its allocations), so read them as
// "what one connection of this machine sustains", and compare paths with benchstat:
//
//	go test -run '^$' -bench 'FetchPath|RequestResponse' -count 5 ./netio/ | tee new.txt
//
// Extra metrics: cpu-s/GiB (process CPU time, user+system, per GiB served — server and client
// together) for FetchPath. Expected allocs/op: a handful per request (the responder, the parts
// slice, the handler's region) and none per byte. Profile with -cpuprofile cpu.out.

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/internal/cputime"
)

// pipeline sends b.N copies of req with at most window unanswered and reads every response with
// readOne, which returns the response's length.
func pipeline(b *testing.B, c *testClient, req []byte, window int, readOne func() int) {
	sem := make(chan struct{}, window)
	errc := make(chan error, 1)
	go func() {
		for range b.N {
			sem <- struct{}{}
			if _, err := c.conn.Write(req); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for range b.N {
		readOne()
		<-sem
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFetchPath serves a 1 MiB file region (in the page cache) per request to one client
// that reads everything, with 4 requests in flight, on each fetch path.
func BenchmarkFetchPath(b *testing.B) {
	const regionBytes = 1 << 20
	f, _ := testFile(b, regionBytes)
	for _, path := range []FetchPath{FetchPathSendfile, FetchPathCopy} {
		b.Run("path="+string(path), func(b *testing.B) {
			s := startServer(b, Config{FetchPath: path, NumEventLoop: 1}, HandlerFunc(func(req *Request, w ResponseWriter) {
				w.Respond(Part{File: &FileRegion{Fd: int(f.Fd()), Len: regionBytes}})
			}))
			c := dial(b, s)
			buf := make([]byte, 256<<10)
			readOne := func() int {
				var size [4]byte
				if _, err := io.ReadFull(c.conn, size[:]); err != nil {
					b.Fatal(err)
				}
				n := int(binary.BigEndian.Uint32(size[:]))
				for left := n; left > 0; {
					m, err := c.conn.Read(buf[:min(left, len(buf))])
					if err != nil {
						b.Fatal(err)
					}
					left -= m
				}
				return n
			}
			_ = c.conn.SetDeadline(time.Time{})
			req := request(1, 11, 1, "bench", false, nil)
			b.SetBytes(regionBytes)
			b.ReportAllocs()
			cpu0 := cputime.Process()
			b.ResetTimer()
			pipeline(b, c, req, 4, readOne)
			b.StopTimer()
			gib := float64(b.N) * regionBytes / (1 << 30)
			b.ReportMetric((cputime.Process()-cpu0).Seconds()/gib, "cpu-s/GiB")
			if st := s.Stats(); path == FetchPathSendfile {
				b.ReportMetric(float64(st.SendfileFallbacks)/float64(b.N), "fallbacks/op")
			}
		})
	}
}

// BenchmarkRequestResponse: small requests answered synchronously with a small body — netio's
// per-request overhead (framing, header parsing, ordering, writev batching).
func BenchmarkRequestResponse(b *testing.B) {
	for _, inflight := range []int{1, 32} {
		b.Run("inflight="+itoa(inflight), func(b *testing.B) {
			body := make([]byte, 100)
			roundTrips(b, HandlerFunc(func(req *Request, w ResponseWriter) {
				w.Respond(bytesOf(body))
			}), request(3, 12, 1, "bench", true, make([]byte, 40)), len(body), inflight)
		})
	}
}

// roundTrips serves b.N copies of the flexible request req with h on one event loop, window of
// them in flight, reading each answer (answerBytes of body), and returns the server.
func roundTrips(b *testing.B, h Handler, req []byte, answerBytes, window int) *Server {
	s := startServer(b, Config{NumEventLoop: 1}, h)
	c := dial(b, s)
	_ = c.conn.SetDeadline(time.Time{})
	rsp := make([]byte, 4+4+1+answerBytes)
	readOne := func() int {
		if _, err := io.ReadFull(c.conn, rsp); err != nil {
			b.Fatal(err)
		}
		return len(rsp)
	}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	pipeline(b, c, req, window, readOne)
	b.StopTimer()
	return s
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// inPlaceAll is a handler that serves every request in place (or not), answering at once with a
// small body: the request-ingest side of a Produce.
type inPlaceAll struct {
	inPlace bool
	answer  []byte
}

func (h *inPlaceAll) ServesInPlace(_, _ int16) bool { return h.inPlace }
func (h *inPlaceAll) ServeKafka(_ *Request, w ResponseWriter) {
	w.Respond(bytesOf(h.answer))
}

// BenchmarkRequestIngest: large request frames (Produce-sized) answered at once with a small
// body, 4 in flight — what netio costs per request byte taken in. inplace=true serves frames that
// arrived whole from gnet's buffer (InPlaceHandler); inplace=false copies them. cpu-s/GiB counts
// the server and the client together.
func BenchmarkRequestIngest(b *testing.B) {
	for _, size := range []int{16 << 10, 256 << 10, 1 << 20} {
		for _, inPlace := range []bool{false, true} {
			name := "size=" + itoa(size>>10) + "KiB/inplace=" + map[bool]string{false: "false", true: "true"}[inPlace]
			b.Run(name, func(b *testing.B) {
				h := &inPlaceAll{inPlace: inPlace, answer: make([]byte, 40)}
				req := request(0, 9, 1, "bench", true, make([]byte, size))
				cpu0 := cputime.Process()
				s := roundTrips(b, h, req, len(h.answer), 4)
				gib := float64(b.N) * float64(len(req)) / (1 << 30)
				b.ReportMetric((cputime.Process()-cpu0).Seconds()/gib, "cpu-s/GiB")
				st := s.Stats()
				b.ReportMetric(float64(st.RequestsInPlace)/float64(st.Requests), "inplace/req")
			})
		}
	}
}

// BenchmarkColdFetch: one event loop; connection A fetches a 4 MiB file region evicted from the
// page cache (fsync + POSIX_FADV_DONTNEED; effective on a disk-backed TempDir, not on tmpfs) while
// connection B ping-pongs small requests on the same loop. offload=true is netio's default (cold
// regions read off the loop); offload=false treats every region as cached, reading it on the loop
// as before. Metrics: B's worst and 99th-percentile round trip while A's fetch is in flight (the
// stall KAFKA-7504 describes), and A's fetch time.
func BenchmarkColdFetch(b *testing.B) {
	const regionBytes = 4 << 20
	f, _ := testFile(b, regionBytes)
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	for _, offload := range []bool{false, true} {
		b.Run("offload="+map[bool]string{false: "false", true: "true"}[offload], func(b *testing.B) {
			s, err := NewServer(Config{Addr: "127.0.0.1:0", NumEventLoop: 1}, HandlerFunc(func(req *Request, w ResponseWriter) {
				if req.APIKey == 1 {
					w.Respond(Part{File: &FileRegion{Fd: int(f.Fd()), Len: regionBytes}})
					return
				}
				w.Respond(bytesOf(corrBody(req.CorrelationID)))
			}))
			if err != nil {
				b.Fatal(err)
			}
			if !offload {
				s.coldCheck = func(*FileRegion) bool { return true }
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(s.Stop)
			ca, cb := dial(b, s), dial(b, s)
			ping := request(3, 1, 1, "ping", false, nil)
			var rtts []time.Duration
			var fetchTotal time.Duration
			for b.Loop() {
				if err := unix.Fadvise(int(f.Fd()), 0, regionBytes, unix.FADV_DONTNEED); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				done := make(chan struct{})
				go func() {
					defer close(done)
					if _, err := ca.tryReadFrame(); err != nil {
						b.Error(err)
					}
				}()
				ca.send(request(1, 11, 1, "fetch", false, nil))
			pings:
				for {
					t0 := time.Now()
					cb.send(ping)
					cb.readFrame()
					rtts = append(rtts, time.Since(t0))
					select {
					case <-done:
						break pings
					default:
					}
				}
				fetchTotal += time.Since(start)
			}
			slices.Sort(rtts)
			b.ReportMetric(float64(rtts[len(rtts)-1].Microseconds()), "ping-max-µs")
			b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "ping-p99-µs")
			b.ReportMetric(float64(fetchTotal.Microseconds())/float64(b.N), "fetch-µs")
			b.ReportMetric(float64(s.Stats().ColdReads)/float64(b.N), "cold/op")
		})
	}
}
