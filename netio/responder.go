package netio

import (
	"fmt"
	"sync"

	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"
)

// responderState says how a request was answered.
type responderState uint8

const (
	statePending    responderState = iota // not answered yet
	stateRespond                          // Respond: write the parts
	stateNoResponse                       // NoResponse: write nothing
	stateClose                            // Close: close the connection when this reaches the head
	stateRecycled                         // written or dropped, back in the pool: answering panics
)

// responder is one request's place in its connection's response queue and the ResponseWriter the
// handler answers through. The event loop creates it and queues it; any goroutine completes it,
// once; the event loop writes it when it is the head and completed.
type responder struct {
	req   Request
	cs    *connState
	frame []byte // pooled copy of the frame; req.Body aliases it. Returned to the pool after writing.

	// Guarded by cs.mu until the event loop pops the responder; the loop owns them afterwards.
	state        responderState
	parts        []Part
	partsInline  [3]Part // prefix bytes, file region, trailing bytes: a typical fetch partition
	sizeFieldVal int     // value of the response's size prefix: everything after it
}

var _ ResponseWriter = (*responder)(nil)

// responders recycles responders once their answers are written or dropped, so that a request
// costs no allocation (netio's allocation budget, doc.go).
var responders = sync.Pool{New: func() any { return new(responder) }}

// newResponder returns a pending responder for a request of cs.
func newResponder(cs *connState) *responder {
	r := responders.Get().(*responder)
	r.cs, r.state = cs, statePending
	return r
}

// recycle returns r to the pool. Called once, by whoever disposes of r (the event loop after
// writing it or on close, or the completer of a request whose connection closed), after its frame
// and parts were released.
func (r *responder) recycle() {
	*r = responder{state: stateRecycled}
	responders.Put(r)
}

// Respond implements ResponseWriter. A response with a file region not in the page cache is read
// off the event loop first (cold.go).
func (r *responder) Respond(parts ...Part) {
	if cs := r.cs; cs != nil && cs.srv.anyCold(parts) && !cs.isClosed() {
		responseSizeFieldVal(&r.req, parts) // a programmer error panics here, in the caller
		r.respondCold(parts)
		return
	}
	r.complete(stateRespond, parts)
}

// NoResponse implements ResponseWriter.
func (r *responder) NoResponse() { r.complete(stateNoResponse, nil) }

// Close implements ResponseWriter.
func (r *responder) Close() { r.complete(stateClose, nil) }

// complete records the answer and, if r is now the completed head of a connection whose event
// loop is not already flushing, wakes the loop to write it. Runs on any goroutine.
func (r *responder) complete(st responderState, parts []Part) {
	sizeFieldVal := 0
	if st == stateRespond {
		sizeFieldVal = responseSizeFieldVal(&r.req, parts) // panics on a programmer error, here in the caller
	}
	cs := r.cs
	if cs == nil || r.state == stateRecycled {
		panic(fmt.Sprintf("BUG: netio: a request answered after its answer was written (api key %d, correlation id %d)",
			r.req.APIKey, r.req.CorrelationID))
	}
	cs.mu.Lock()
	if r.state != statePending {
		cs.mu.Unlock()
		panic(fmt.Sprintf("BUG: netio: request (api key %d, correlation id %d) answered twice",
			r.req.APIKey, r.req.CorrelationID))
	}
	r.state = st
	if cs.closed {
		// The connection is gone; OnClose left pending responders to their completers.
		cs.mu.Unlock()
		releaseParts(parts)
		r.releaseFrame()
		r.recycle()
		return
	}
	r.parts = append(r.partsInline[:0], parts...)
	r.sizeFieldVal = sizeFieldVal
	if st == stateRespond {
		cs.answeredBytes += 4 + sizeFieldVal
	}
	if st == stateClose {
		cs.closing = true
	}
	// Only the head matters: a later responder is written when the head's completion (or the loop
	// already running) flushes the queue.
	wake := cs.queue.peek() == r && !cs.looping && !cs.wakeQueued
	if wake {
		cs.wakeQueued = true
	}
	cs.mu.Unlock()
	if wake {
		// An error means the engine is shutting down: gnet then closes every connection, and
		// OnClose releases this responder.
		_ = cs.c.Wake(nil)
	}
}

// isClosed reports whether OnClose has run for the connection: its answers are dropped, so there is
// no point reading cold regions for them.
func (cs *connState) isClosed() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.closed
}

// responseSizeFieldVal validates parts and returns the response's size prefix value: correlation
// id, the empty tag section if any, and the parts.
func responseSizeFieldVal(req *Request, parts []Part) int {
	n := 4 // correlation id
	if responseHasTagSection(req) {
		n++
	}
	for i := range parts {
		p := &parts[i]
		switch {
		case p.File != nil && p.Bytes != nil:
			panic("BUG: netio: Part has both Bytes and File")
		case p.File != nil:
			f := p.File
			if f.Fd < 0 || f.Offset < 0 || f.Len < 0 {
				panic(fmt.Sprintf("BUG: netio: bad FileRegion fd=%d offset=%d len=%d", f.Fd, f.Offset, f.Len))
			}
			if f.Len > responseFrameBytesMax {
				panic(fmt.Sprintf("BUG: netio: FileRegion of %d bytes exceeds a frame", f.Len))
			}
			n += int(f.Len)
		default:
			n += len(p.Bytes)
		}
		if n > responseFrameBytesMax {
			panic(fmt.Sprintf("BUG: netio: response of %d+ bytes exceeds the int32 size prefix", n))
		}
	}
	return n
}

// responseHasTagSection reports whether the response header is v1 (correlation id + empty tagged
// fields): flexible requests, except ApiVersions, whose response header is always v0 so that a
// client can read the error of a version the broker does not support (KIP-511).
func responseHasTagSection(req *Request) bool {
	return req.Flexible && req.APIKey != apiKeyApiVersions
}

// releaseFrame returns the request's frame to the pool. Called once, by whoever disposes of r.
func (r *responder) releaseFrame() {
	if r.frame != nil {
		byteslice.Put(r.frame)
		r.frame, r.req.Body, r.req.Stream = nil, nil, nil
	}
}

// release disposes of a responder that will never be written, and recycles it.
func (r *responder) release() {
	releaseParts(r.parts)
	r.parts = nil
	r.releaseFrame()
	r.recycle()
}

// releaseParts releases every part: file regions and recyclable bytes.
func releaseParts(parts []Part) {
	releaseFileParts(parts)
	recycleBytes(parts)
}

// releaseFileParts calls Release of every file region in parts.
func releaseFileParts(parts []Part) {
	for i := range parts {
		releaseRegion(parts[i].File)
	}
}

// recycleBytes returns the Recycle byte parts to the pool. Once their bytes are written or will
// never be.
func recycleBytes(parts []Part) {
	for i := range parts {
		if p := &parts[i]; p.Recycle && p.Bytes != nil {
			byteslice.Put(p.Bytes)
			p.Bytes = nil
		}
	}
}

func releaseRegion(f *FileRegion) {
	if f != nil && f.Release != nil {
		f.Release()
	}
}
