package netio

import (
	"errors"
	"os"

	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"
	"golang.org/x/sys/unix"
)

// Cold reads off the event loop (Kafka's KAFKA-7504). A file region whose pages are not all in the
// page cache would stall the whole event loop in pread or sendfile for a disk read, delaying every
// connection on that loop. Respond checks each region with cachestat(2) (Linux 6.5+; without it
// every region counts as cached, as before); if one is cold, the response is read on its own
// goroutine into pooled buffers and only then completed. The responder stays pending meanwhile,
// so later responses on the connection still wait behind it; other connections do not.

// pageSize is the base page size cachestat counts in.
var pageSize = os.Getpagesize()

// regionCached reports whether every page of f is in the page cache. Cheap (no I/O, no copy) and
// never blocks, so it runs wherever Respond is called. Errors other than a missing cachestat
// count as cached: the write path then reports them as it did before.
func (s *Server) regionCached(f *FileRegion) bool {
	if f.Len == 0 || s.noCachestat.Load() {
		return true
	}
	var st unix.Cachestat_t
	err := unix.Cachestat(uint(f.Fd), &unix.CachestatRange{Off: uint64(f.Offset), Len: uint64(f.Len)}, &st, 0)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) {
			s.noCachestat.Store(true)
		}
		return true
	}
	page := int64(pageSize) // cachestat counts base pages
	first, end := f.Offset/page, (f.Offset+f.Len+page-1)/page
	return st.Cache >= uint64(end-first)
}

// anyCold reports whether a file region of parts is not wholly in the page cache.
func (s *Server) anyCold(parts []Part) bool {
	for i := range parts {
		if f := parts[i].File; f != nil && !s.coldCheck(f) {
			return true
		}
	}
	return false
}

// respondCold completes r with parts once their file regions have been read, off the event loop,
// into pooled buffers (Recycle parts). A read error closes the connection after the responses
// before it, as a failed pread on the loop does.
func (r *responder) respondCold(parts []Part) {
	cs := r.cs
	cs.srv.stats.coldReads.Add(1)
	own := append([]Part(nil), parts...) // the caller may reuse parts once Respond returns
	go func() {
		if cs.srv.coldReadHook != nil {
			cs.srv.coldReadHook()
		}
		out, err := readRegions(own)
		if err != nil {
			cs.srv.logDebug("netio: closing connection after a cold read failed", "conn", cs.info.ID, "err", err)
			r.complete(stateClose, nil)
			return
		}
		r.complete(stateRespond, out)
	}()
}

// readRegions returns parts with every file region replaced by its bytes, read in chunks of at
// most copyChunkBytes into NewBuffer buffers (Recycle parts). Every region is released, read or
// not; on error the buffers read so far are recycled too.
func readRegions(parts []Part) ([]Part, error) {
	out := make([]Part, 0, len(parts)+2)
	for i, p := range parts {
		f := p.File
		if f == nil {
			out = append(out, p)
			continue
		}
		off, left := f.Offset, f.Len
		for left > 0 {
			n := min(left, copyChunkBytes)
			buf := byteslice.Get(int(n))
			if err := preadFull(f.Fd, buf, off); err != nil {
				byteslice.Put(buf)
				releaseRegion(f)
				releaseFileParts(parts[i+1:])
				recycleBytes(out)
				return nil, err
			}
			out = append(out, Part{Bytes: buf, Recycle: true})
			off, left = off+n, left-n
		}
		releaseRegion(f)
	}
	return out, nil
}
