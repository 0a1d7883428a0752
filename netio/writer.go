package netio

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"
	"golang.org/x/sys/unix"
)

// Writing responses. Everything here runs on the connection's event loop: gnet's Write/Writev
// are only safe there, and they keep order by appending to the outbound buffer whenever it is
// not empty. Consecutive byte responses are batched into one writev; a file region first flushes
// the batch, so that sendfile can see whether the prefix has left.

// flush writes every completed responder at the head of the queue, in order.
func (cs *connState) flush() gnet.Action {
	cs.mu.Lock()
	batch := cs.batch[:0]
	for head := cs.queue.peek(); head != nil && head.state != statePending; head = cs.queue.peek() {
		batch = append(batch, cs.queue.pop())
		if head.state == stateRespond {
			cs.answeredBytes -= 4 + head.sizeFieldVal
		}
	}
	cs.mu.Unlock()
	if len(batch) == 0 {
		return gnet.None
	}
	act := cs.writeBatch(batch)
	// Frames go back to the pool only now: response parts may alias a request's body, and the
	// last writev of the batch has just copied whatever the socket did not take.
	for i, r := range batch {
		r.releaseFrame()
		r.recycle()
		batch[i] = nil
	}
	cs.batch = batch[:0]
	return act
}

// writeBatch writes the responses of batch in order and returns gnet.Close when the connection
// must close (a Close answer, or an I/O error). Every file region of batch is released.
func (cs *connState) writeBatch(batch []*responder) gnet.Action {
	iov, hdrs := cs.iov[:0], cs.hdrs[:0]
	var err error
	for i, r := range batch {
		switch r.state {
		case stateNoResponse:
			continue
		case stateClose:
			err = errCloseRequested
		case stateRespond:
			// Response header: size, correlation id, and the empty tag section (0 tagged fields).
			start := len(hdrs)
			hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(r.sizeFieldVal))
			hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(r.req.CorrelationID))
			if responseHasTagSection(&r.req) {
				hdrs = append(hdrs, 0)
			}
			// If hdrs grows, earlier iov entries keep pointing at the old array, which stays
			// valid: correct, just not reused.
			iov = append(iov, hdrs[start:len(hdrs):len(hdrs)])
			iov, err = cs.appendParts(iov, r.parts) // releases every file region of r
		default:
			panic(fmt.Sprintf("BUG: netio: writing a responder in state %d", r.state))
		}
		if err != nil {
			for _, rest := range batch[i+1:] {
				releaseFileParts(rest.parts)
			}
			break
		}
	}
	if err == nil || err == errCloseRequested {
		// Responses before a Close answer still go out; gnet also flushes its outbound buffer
		// (best effort) when it closes.
		if werr := cs.writev(iov); werr != nil {
			err = werr
		}
	}
	clear(iov[:cap(iov)]) // drop references to response bytes until the next flush
	cs.iov, cs.hdrs = iov[:0], hdrs[:0]
	// gnet has copied whatever the socket did not take (or the connection is closing): recyclable
	// bytes go back to the pool; the file regions were released above.
	for _, r := range batch {
		recycleBytes(r.parts)
		r.parts = nil
	}
	if err != nil {
		if err != errCloseRequested {
			cs.srv.logDebug("netio: closing connection after write error", "conn", cs.info.ID, "err", err)
		}
		return gnet.Close
	}
	return gnet.None
}

// errCloseRequested marks a Close answer reaching the head of the queue.
var errCloseRequested = fmt.Errorf("netio: close requested by handler")

// appendParts appends parts' bytes to iov, writing iov out before each file region and whenever
// it reaches iovMax. Every file region in parts is released, sent or not.
func (cs *connState) appendParts(iov [][]byte, parts []Part) ([][]byte, error) {
	for i := range parts {
		p := &parts[i]
		if p.File == nil {
			if len(p.Bytes) == 0 {
				continue
			}
			iov = append(iov, p.Bytes)
			if len(iov) == iovMax {
				if err := cs.writev(iov); err != nil {
					releaseFileParts(parts[i+1:])
					return iov[:0], err
				}
				iov = iov[:0]
			}
			continue
		}
		err := cs.writev(iov)
		iov = iov[:0]
		if err == nil {
			err = cs.sendRegion(p.File)
		}
		releaseRegion(p.File)
		if err != nil {
			releaseFileParts(parts[i+1:])
			return iov, err
		}
	}
	return iov, nil
}

// writev hands iov to gnet, which writes what the socket takes and copies the rest into the
// outbound buffer, so iov's bytes are free for reuse when it returns. On a write error gnet has
// already closed the connection (OnClose ran).
func (cs *connState) writev(iov [][]byte) error {
	if len(iov) == 0 {
		return nil
	}
	n, err := cs.c.Writev(iov)
	if err != nil {
		return err
	}
	cs.srv.stats.bytesOutWrite.Add(uint64(n))
	return nil
}

// sendRegion writes the file region f: with sendfile if configured and nothing is waiting in the
// outbound buffer (sendfile would overtake it), then whatever is left with pread+write.
func (cs *connState) sendRegion(f *FileRegion) error {
	off, left := f.Offset, f.Len
	if cs.srv.cfg.FetchPath == FetchPathSendfile && left > 0 {
		if cs.c.OutboundBuffered() == 0 {
			n, err := sendfileNonblocking(cs.c.Fd(), f.Fd, &off, left)
			left -= n
			cs.srv.stats.bytesOutSendfile.Add(uint64(n))
			if err != nil {
				return err
			}
		}
		if left > 0 {
			cs.srv.stats.sendfileFallbacks.Add(1)
		}
	}
	return cs.copyRegion(f.Fd, off, left)
}

// sendfileNonblocking sends up to n bytes of fd from *off to the non-blocking socket sock until
// the socket is full (EAGAIN), the file ends or n bytes are sent, and returns the bytes sent.
// gnet offers no writable callback for our own writes, so the caller copies the rest.
func sendfileNonblocking(sock, fd int, off *int64, n int64) (int64, error) {
	var sent int64
	for sent < n {
		w, err := unix.Sendfile(sock, fd, off, int(min(n-sent, sendfileChunkBytesMax)))
		if w > 0 { // -1 on error
			sent += int64(w)
		}
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return sent, nil
		case err != nil:
			return sent, os.NewSyscallError("sendfile", err)
		case w == 0:
			return sent, nil // end of file: copyRegion reports the short file
		}
	}
	return sent, nil
}

// copyRegion preads n bytes of fd from off in chunks into a pooled buffer and writes each with
// gnet's Write, which copies what the socket does not take, so one buffer serves every chunk.
func (cs *connState) copyRegion(fd int, off, n int64) error {
	if n == 0 {
		return nil
	}
	buf := byteslice.Get(int(min(n, copyChunkBytes)))
	defer byteslice.Put(buf)
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		if err := preadFull(fd, chunk, off); err != nil {
			return err
		}
		if _, err := cs.c.Write(chunk); err != nil {
			return err
		}
		cs.srv.stats.bytesOutWrite.Add(uint64(len(chunk)))
		off += int64(len(chunk))
		n -= int64(len(chunk))
	}
	return nil
}

// preadFull fills p from fd at off. A file shorter than its region is an error: the response's
// size prefix has promised those bytes, so the connection cannot continue.
func preadFull(fd int, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pread(fd, p, off)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return os.NewSyscallError("pread", err)
		case n == 0:
			return fmt.Errorf("netio: file region beyond end of file at offset %d: %w", off, io.ErrUnexpectedEOF)
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
