package netio

import (
	"net/netip"

	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"
)

// Request is one decoded Kafka request. Frame bytes are copied out of gnet's buffer into a pooled
// buffer, so Body stays valid until the ResponseWriter's Respond/NoResponse/Close is called (in
// fact until the response has been written, so response parts may alias Body) — unless the
// handler serves the request in place (InPlaceHandler), when Body is valid only during
// ServeKafka. The handler must not keep Body, or the Request, after answering.
type Request struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      string // may be empty (null)
	// Flexible is true when request header v2 (tagged fields) was used; the response then uses
	// header v1 (with an empty tag section) too, except ApiVersions (key 18), which always
	// answers with header v0.
	Flexible bool
	Body     []byte   // bytes after the request header
	Conn     ConnInfo // remote address, connection id
	// Stream is what the handler's StreamFrame returned for this frame while its bytes arrived
	// (StreamingHandler), or nil. ServeKafka owns it: it must finish or abandon it. Body then
	// holds only the body bytes the stream has not consumed.
	Stream FrameStream
}

// ConnInfo identifies the connection a request came on.
type ConnInfo struct {
	ID         uint64         // unique per Server, never reused
	RemoteAddr netip.AddrPort // the client's address
}

// Part is one piece of a response, sent in order. Exactly one of Bytes and File is set; a Part
// with neither is skipped.
type Part struct {
	// Bytes are written as they are. netio may keep a reference until they are written, so the
	// caller must not modify them after Respond.
	Bytes []byte
	// Recycle hands Bytes to netio: they came from NewBuffer, and netio puts them back into its
	// pool once written (or when the connection closed first). The caller must not touch them, or
	// anything sharing their array, after Respond. This is how a handler answers without an
	// allocation.
	Recycle bool
	// File is a region of a file sent with sendfile (zero copy) or pread+write.
	File *FileRegion
}

// FileRegion is Len bytes of the open file Fd starting at Offset.
type FileRegion struct {
	Fd          int
	Offset, Len int64
	// Release, if not nil, is called exactly once when netio no longer needs Fd: after the
	// region was sent, or when the connection closed first. It may run on any goroutine (an
	// event loop, or inside Respond itself), so it must not block or call the ResponseWriter.
	Release func()
}

// ResponseWriter answers one Request. Exactly one of its methods is called, exactly once; a second
// call panics while netio still holds the request, and is undefined after (netio reuses its
// ResponseWriters once their answers are written). Safe to call from any goroutine.
type ResponseWriter interface {
	// Respond queues the response body parts WITHOUT size prefix and WITHOUT response header:
	// netio writes the size and correlation id (and the empty tag section when the request was
	// flexible and its key is not 18). The parts go out after every earlier response on this
	// connection. The parts slice itself is copied: the caller may reuse it when Respond returns.
	Respond(parts ...Part)
	// NoResponse frees the request's slot without sending anything (Produce with acks=0).
	NoResponse()
	// Close closes the connection once every earlier response has been written (malformed
	// request, unsupported api key). Later requests on the connection are dropped unanswered.
	Close()
}

// Handler serves Kafka requests. ServeKafka runs on an event loop and must not block; it may
// answer w synchronously or later from any goroutine, exactly once.
type Handler interface {
	ServeKafka(req *Request, w ResponseWriter)
}

// InPlaceHandler is a Handler that serves some requests straight from the connection's read
// buffer, sparing netio's copy of the frame. For a request whose key and version ServesInPlace
// accepts, Request.Body is valid only until ServeKafka returns (netio then sets it to nil): the
// handler must be done with those bytes by then — copied whatever it keeps, and answered, if it
// answers later, with parts that do not alias them. Produce is the case it exists for: its
// batches are written to the log, not kept.
type InPlaceHandler interface {
	Handler
	// ServesInPlace reports whether requests with this api key and version are served in place.
	// Called on the event loop for every frame that arrived whole; it must be cheap.
	ServesInPlace(apiKey, apiVersion int16) bool
}

// StreamingHandler is a Handler that acts on a large frame while its bytes are still arriving, so
// that it handles each part while the part is in the CPU cache: a 10 MB Produce request no longer
// is there by the time its last byte has arrived, and whoever touches its bytes first pays for
// the cache misses (results/broker.md, "fourth pass: streamed Produce").
//
// For a frame of at least StreamFrameMinBytes that does not arrive whole, netio calls StreamFrame
// once the request header is in. If it returns a FrameStream, netio calls its Arrived each time
// more of the body arrives (see FrameStream), and then ServeKafka with the stream as
// Request.Stream and the body bytes the stream did not consume as Request.Body — or Abandon, if
// the connection closes first. Arrived is never called after the connection has been told to
// Close.
//
// What this changes for the handler: it acts on a request before knowing that the rest of it is
// well formed, or that it will arrive at all.
type StreamingHandler interface {
	Handler
	// StreamFrame returns the stream for a frame with this api key and version, or nil to have it
	// served whole. Called on the event loop; it must be cheap.
	StreamFrame(apiKey, apiVersion int16) FrameStream
}

// ElementSizer is a FrameStream that can tell where the element it waits for ends (a Produce
// request's next partition, once its records' length has arrived). netio asks after each Arrived
// and, for a frame assembled in a window, ends its next read of the frame there, so that one
// read does not carry the end of an element and the start of the next: the stream consumes
// everything that arrived, so netio moves no unconsumed bytes, and reads the next element into
// the window's front, memory still in the cache (results/broker.md, "eleventh pass"). Optional:
// without it, reads end wherever the socket's bytes do.
type ElementSizer interface {
	FrameStream
	// ElementRemaining returns how many bytes beyond those handed to the last Arrived complete the
	// element the stream waits for, or 0 when it cannot tell (or waits for none). A wrong answer
	// costs only efficiency: reads stop early or late, never out of order.
	ElementRemaining() int
}

// FrameStream receives a frame's body as it arrives. Its methods run on the event loop.
type FrameStream interface {
	// Arrived is called with the body's bytes received so far, less those the stream has
	// consumed: it returns how many bytes at the front of body it is done with, and the next call
	// (or ServeKafka's Request.Body) starts after them. Each call's body extends what the previous
	// one left. netio may reuse consumed bytes' memory, so the stream must not keep them; the
	// others stay valid until ServeKafka's answer or Abandon.
	Arrived(body []byte) (consumed int)
	// Abandon is called instead of ServeKafka when the frame will never be whole.
	Abandon()
}

// StreamFrameMinBytes is the smallest frame netio streams to a StreamingHandler: below it a
// frame fits the CPU's cache whole (a core's L2 is 512 KiB–2 MiB), and streaming saves nothing.
const StreamFrameMinBytes = 1 << 20

// NewBuffer returns an empty byte slice with capacity at least n from netio's buffer pool, for a
// response part with Recycle set. Appending beyond the capacity is fine: the grown slice is
// pooled in its place.
func NewBuffer(n int) []byte { return byteslice.Get(max(n, 1))[:0] }

// RecycleBuffer returns a buffer from NewBuffer that will not be sent to the pool. The caller
// must not touch it afterwards.
func RecycleBuffer(b []byte) { byteslice.Put(b) }

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request, w ResponseWriter)

// ServeKafka calls f(req, w).
func (f HandlerFunc) ServeKafka(req *Request, w ResponseWriter) { f(req, w) }
