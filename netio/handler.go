package netio

import "net/netip"

// Request is one decoded Kafka request. Frame bytes are copied out of gnet's buffer into a pooled
// buffer, so Body stays valid until the ResponseWriter's Respond/NoResponse/Close is called (in
// fact until the response has been written, so response parts may alias Body). The handler must
// not keep Body, or the Request, after answering.
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
// call panics. Safe to call from any goroutine.
type ResponseWriter interface {
	// Respond queues the response body parts WITHOUT size prefix and WITHOUT response header:
	// netio writes the size and correlation id (and the empty tag section when the request was
	// flexible and its key is not 18). The parts go out after every earlier response on this
	// connection.
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

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request, w ResponseWriter)

// ServeKafka calls f(req, w).
func (f HandlerFunc) ServeKafka(req *Request, w ResponseWriter) { f(req, w) }
