package netio

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/pool/byteslice"
	"golang.org/x/sys/unix"
)

// connState is netio's per-connection state, stored as the gnet.Conn's context.
type connState struct {
	srv  *Server
	c    gnet.Conn
	info ConnInfo

	// Event-loop only.
	lastClientID   string        // reused while a client keeps sending the same id: no allocation
	muted          bool          // frames were left unconsumed because of a limit
	iov            [][]byte      // scratch for batching responses into one writev
	hdrs           []byte        // scratch backing the response headers referenced by iov
	batch          []*responder  // scratch: responders popped for writing
	partial        []byte        // pooled frame being assembled while its bytes arrive (nil if none)
	partialN       int           // bytes of partial filled
	frameLeft      int           // bytes of the frame in partial still to arrive
	stream         FrameStream   // the handler's stream for partial (StreamingHandler), or nil
	sizer          ElementSizer  // stream, if it tells how far its next element reaches
	elementLeft    int           // bytes to come that end the stream's next element (0: unknown)
	streamAsked    bool          // StreamFrame was asked about partial, or partial is not streamed
	streamBody     int           // where the body bytes the stream has not consumed start in partial
	streamHdr      requestHeader // the streamed frame's header
	streamClientID string
	windowed       bool // partial is a window over the body: consumed bytes are dropped for reuse

	// drainTimerArmed is set while a timer will wake a connection muted by its outbound buffer.
	drainTimerArmed atomic.Bool

	mu sync.Mutex
	// Guarded by mu. The event loop is the only writer of queue.
	queue         responderQueue
	answeredBytes int  // response bytes answered but not yet handed to gnet: count as outbound
	looping       bool // the event loop is in OnTraffic and flushes before leaving it
	wakeQueued    bool // a Wake is queued that will flush
	closing       bool // a Close answer is queued: consume no more frames
	closed        bool // OnClose ran: completers release their own responders
}

// onTraffic reads whole frames and writes completed responses until neither makes progress.
// gnet calls it when bytes arrive and when the connection is woken (by a completion at the head
// of the queue or by the outbound drain timer). Runs on the event loop; must not block.
func (cs *connState) onTraffic() gnet.Action {
	cs.mu.Lock()
	cs.looping, cs.wakeQueued = true, false
	cs.mu.Unlock()
	for {
		if act := cs.flush(); act != gnet.None {
			return cs.leave(act)
		}
		if act := cs.readFrames(); act != gnet.None {
			return cs.leave(act)
		}
		// A handler may have answered (synchronously or from another goroutine) since flush:
		// go round again rather than leave a completed head unwritten with no wake queued.
		cs.mu.Lock()
		if head := cs.queue.peek(); head != nil && head.state != statePending && !cs.closed {
			cs.mu.Unlock()
			continue
		}
		cs.looping = false
		closed := cs.closed
		cs.mu.Unlock()
		if closed {
			return gnet.Close // gnet closed the connection under us (write error); Close is then a no-op
		}
		break
	}
	return cs.checkLimits()
}

// leave ends onTraffic early with act.
func (cs *connState) leave(act gnet.Action) gnet.Action {
	cs.mu.Lock()
	cs.looping = false
	cs.mu.Unlock()
	return act
}

// readFrames consumes whole frames from the inbound buffer and hands them to the handler until a
// frame is incomplete or a limit mutes the connection. Runs on the event loop.
//
// Each request byte is copied at most once by netio: a frame already whole in gnet's buffer is
// served in place when the handler allows it for its key and version (InPlaceHandler), and copied
// into a pooled frame otherwise; a frame that is not whole yet is assembled in its own pooled
// buffer as its bytes arrive, rather than left in gnet's inbound ring (which would copy it in and
// then out again).
func (cs *connState) readFrames() gnet.Action {
	c, cfg := cs.c, &cs.srv.cfg
	for {
		if cs.partial != nil {
			for cs.frameLeft > 0 && c.InboundBuffered() > 0 {
				room := cs.room()
				if len(room) == 0 {
					return cs.noRoom()
				}
				n, _ := c.Read(room)
				cs.partialN += n
				cs.frameLeft -= n
				cs.streamArrived()
			}
			if cs.frameLeft > 0 && c.InboundBuffered() == 0 {
				// gnet's buffer is drained: the rest comes straight from the socket.
				if act := cs.readSocket(); act != gnet.None {
					return act
				}
			}
			if cs.frameLeft > 0 {
				cs.muted = false // everything gnet held is in the frame now
				return gnet.None
			}
		} else if c.InboundBuffered() < 4 {
			cs.muted = false // nothing held back
			return gnet.None
		}
		cs.mu.Lock()
		closing, outboundBytes := cs.closing, cs.answeredBytes+c.OutboundBuffered()
		cs.mu.Unlock()
		if closing {
			return gnet.None // the connection closes once the Close answer reaches the head
		}
		if cs.queue.len() >= cfg.MaxInFlightPerConn || outboundBytes > cfg.OutboundHighWaterBytes {
			if !cs.muted {
				cs.muted = true
				cs.srv.stats.mutes.Add(1)
			}
			return gnet.None
		}
		cs.muted = false
		if frame := cs.partial; frame != nil {
			var act gnet.Action
			if cs.stream != nil {
				act = cs.serveParsed(frame, cs.streamHdr, cs.streamClientID, frame[cs.streamBody:cs.partialN], true, cs.stream)
			} else {
				act = cs.serve(frame, true, nil)
			}
			cs.resetPartial()
			if act != gnet.None {
				return act
			}
			continue
		}
		sizeBuf, err := c.Peek(4)
		if err != nil {
			panic(fmt.Sprintf("BUG: netio: peek of 4 of %d buffered bytes: %v", c.InboundBuffered(), err))
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf))
		if size < requestHeaderBytesMin || int(size) > cfg.SocketRequestMaxBytes {
			// Negative, too small for a header, or over socket.request.max.bytes (also what a TLS
			// record or HTTP request on this port looks like): drop the connection, not the server.
			cs.srv.stats.framesRejected.Add(1)
			cs.srv.logDebug("netio: rejecting frame", "conn", cs.info.ID, "size", size)
			return gnet.Close
		}
		cs.srv.stats.bytesIn.Add(uint64(4 + int(size)))
		if c.InboundBuffered() < 4+int(size) {
			// The rest of the frame is still to come: move what is here into the frame's own
			// buffer, and the rest as it arrives.
			_, _ = c.Discard(4)
			cs.partial = byteslice.Get(int(size))
			cs.partialN, _ = c.Read(cs.partial)
			cs.frameLeft = int(size) - cs.partialN
			cs.streamArrived()
			continue
		}
		if cs.servesInPlace(c) {
			whole, err := c.Peek(4 + int(size))
			if err != nil {
				panic(fmt.Sprintf("BUG: netio: peek of %d of %d buffered bytes: %v", 4+int(size), c.InboundBuffered(), err))
			}
			act := cs.serve(whole[4:], false, nil)
			// Only now: the handler is done with the bytes (InPlaceHandler's contract).
			_, _ = c.Discard(4 + int(size))
			if act != gnet.None {
				return act
			}
			continue
		}
		_, _ = c.Discard(4)
		// Copy the frame out of gnet's buffer: it is valid only inside this callback, and the
		// request outlives it.
		frame := byteslice.Get(int(size))
		if n, _ := c.Read(frame); n != len(frame) {
			panic(fmt.Sprintf("BUG: netio: read %d of %d buffered frame bytes", n, len(frame)))
		}
		if act := cs.serve(frame, true, nil); act != gnet.None {
			return act
		}
	}
}

// readSocket reads the rest of the frame being assembled straight from the socket, bypassing
// gnet's read buffer (which would cost a copy into it and one out), until the frame is whole or the
// socket has nothing more (EAGAIN: epoll calls onTraffic again when bytes arrive). gnet's buffer
// must be empty, so no bytes are taken out of order. Runs on the event loop.
func (cs *connState) readSocket() gnet.Action {
	for cs.frameLeft > 0 {
		room := cs.room()
		if len(room) == 0 {
			return cs.noRoom()
		}
		n, err := unix.Read(cs.c.Fd(), room)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return gnet.None
		case err != nil:
			cs.srv.logDebug("netio: closing connection after read error", "conn", cs.info.ID, "err", err)
			return gnet.Close
		case n == 0:
			// The peer closed mid-frame: the request can never complete.
			cs.srv.logDebug("netio: connection closed by the peer mid-frame", "conn", cs.info.ID)
			return gnet.Close
		}
		cs.partialN += n
		cs.frameLeft -= n
		cs.streamArrived() // while these bytes are in the cache
	}
	return gnet.None
}

// room is where the next bytes of the frame being assembled go: up to the frame's end, and, for a
// streamed frame, at most streamReadBytes (hand the stream each piece while it is in the cache)
// and, in a window, no further than the end of the element the stream waits for, when it says
// where that is.
// Never empty while bytes are still to arrive.
func (cs *connState) room() []byte {
	r := cs.partial[cs.partialN:min(len(cs.partial), cs.partialN+cs.frameLeft)]
	if cs.stream != nil {
		limit := streamReadBytes
		if cs.windowed && cs.elementLeft > 0 {
			// End the read with the element (ElementSizer): the stream then consumes all that
			// arrived, and the window's reuse has nothing left over to move. (A frame assembled
			// whole never moves its bytes, so its reads are left as large as they come.)
			limit = min(limit, cs.elementLeft)
		}
		r = r[:min(len(r), limit)]
	}
	return r
}

// noRoom closes a connection whose frame being assembled has no room for the bytes still to
// come. It cannot happen (makeRoom runs after every read of a windowed frame); if it does, the
// connection goes, not the broker.
func (cs *connState) noRoom() gnet.Action {
	cs.srv.cfg.Logger.Error("BUG: netio: no room in the frame being assembled; closing the connection", "conn", cs.info.ID)
	return gnet.Close
}

// resetPartial forgets the frame being assembled (its buffer now belongs to a responder, or was
// put back).
func (cs *connState) resetPartial() {
	cs.partial, cs.partialN, cs.frameLeft, cs.stream, cs.streamAsked, cs.streamBody, cs.windowed = nil, 0, 0, nil, false, 0, false
	cs.sizer, cs.elementLeft = nil, 0
}

// streamWindowBytes is the buffer a streamed frame larger than it is assembled in: the stream's
// consumed bytes are dropped and the space reused, so the socket reads write into memory that is
// still in the cache instead of a cold buffer the size of the whole frame.
const streamWindowBytes = 2 << 20

// toWindow moves a streamed frame's body into a window of its own once the stream exists.
func (cs *connState) toWindow() {
	body := cs.partial[cs.streamBody:cs.partialN]
	w := byteslice.Get(max(streamWindowBytes, len(body)+streamReadBytes))
	n := copy(w, body)
	byteslice.Put(cs.partial)
	cs.partial, cs.partialN, cs.streamBody, cs.windowed = w, n, 0, true
}

// makeRoom keeps room in a window for the next read: the consumed bytes are dropped (what the
// stream has not consumed yet moves to the front), and a window too small for one element grows.
// When the stream has consumed everything, reads start again at the front at once.
func (cs *connState) makeRoom() {
	if cs.frameLeft == 0 {
		return
	}
	if cs.streamBody == cs.partialN {
		// The stream consumed all that arrived (reads end with its elements: ElementSizer):
		// the next read goes to the window's front, moving nothing, into memory the last reads
		// left in the cache.
		cs.partialN, cs.streamBody = 0, 0
	}
	if len(cs.partial)-cs.partialN >= min(streamReadBytes, cs.frameLeft) {
		return
	}
	if cs.streamBody > 0 {
		cs.partialN = copy(cs.partial, cs.partial[cs.streamBody:cs.partialN])
		cs.streamBody = 0
	}
	if len(cs.partial)-cs.partialN < min(streamReadBytes, cs.frameLeft) {
		w := byteslice.Get(min(2*len(cs.partial), cs.partialN+cs.frameLeft))
		copy(w, cs.partial[:cs.partialN])
		byteslice.Put(cs.partial)
		cs.partial = w
	}
}

// streamReadBytes caps one socket read of a streamed frame: a read takes everything the socket
// holds (its receive buffer autotunes up to net.ipv4.tcp_rmem's maximum, 32 MiB here), and the
// stream should see each piece before the next evicts it from the CPU cache. Measured: without
// the cap CRC32C stayed at 17.7 % of the broker's CPU at 12 partitions, with it 8.1 %.
const streamReadBytes = 256 << 10

// streamArrived hands the frame being assembled, as far as it has arrived, to the handler's
// stream (StreamingHandler), first asking the handler for one once the request header is in.
// Runs on the event loop after bytes were added to partial.
func (cs *connState) streamArrived() {
	if !cs.streamAsked {
		if cs.srv.streams == nil || len(cs.partial) < StreamFrameMinBytes {
			cs.streamAsked = true
			return
		}
		h, err := parseRequestHeader(cs.partial[:cs.partialN])
		if err != nil {
			return // not all in yet; a malformed header closes the connection when the frame is whole
		}
		cs.streamAsked = true
		if cs.stream = cs.srv.streams.StreamFrame(h.apiKey, h.apiVersion); cs.stream == nil {
			return
		}
		cs.sizer, _ = cs.stream.(ElementSizer)
		cs.streamHdr, cs.streamClientID, cs.streamBody = h, cs.clientID(h.clientID), h.bodyOff
		cs.streamHdr.clientID = nil // it points into partial, which toWindow gives back
		if cs.frameLeft > streamWindowBytes {
			cs.toWindow()
		}
	}
	if cs.stream == nil {
		return
	}
	cs.mu.Lock()
	closing := cs.closing
	cs.mu.Unlock()
	if closing {
		// No frame after a Close answer takes effect (OnClose abandons the stream): drop what
		// arrived, so the window keeps room for the bytes still on their way.
		cs.streamBody, cs.elementLeft = cs.partialN, 0
	} else {
		cs.streamBody += cs.stream.Arrived(cs.partial[cs.streamBody:cs.partialN])
		if cs.sizer != nil {
			cs.elementLeft = cs.sizer.ElementRemaining()
		}
	}
	if cs.windowed {
		cs.makeRoom()
	}
}

// servesInPlace reports whether the handler serves the frame at the head of the inbound buffer
// (whose size prefix has been checked) in place, by its api key and version.
func (cs *connState) servesInPlace(c gnet.Conn) bool {
	h := cs.srv.inPlace
	if h == nil {
		return false
	}
	kv, err := c.Peek(8) // size, api key, api version: a frame has at least requestHeaderBytesMin
	if err != nil {
		panic(fmt.Sprintf("BUG: netio: peek of 8 of %d buffered bytes: %v", c.InboundBuffered(), err))
	}
	return h.ServesInPlace(int16(binary.BigEndian.Uint16(kv[4:6])), int16(binary.BigEndian.Uint16(kv[6:8])))
}

// serve parses frame's request header, queues a responder and calls the handler. owned says the
// frame is a pooled copy that the responder returns to the pool once written; otherwise it is in
// gnet's inbound buffer, valid only until the handler returns. stream is the handler's stream
// for the frame, if it was streamed (owned frames only). Runs on the event loop.
func (cs *connState) serve(frame []byte, owned bool, stream FrameStream) gnet.Action {
	h, err := parseRequestHeader(frame)
	if err != nil {
		if owned {
			byteslice.Put(frame)
		}
		cs.srv.stats.framesRejected.Add(1)
		cs.srv.logDebug("netio: malformed request header", "conn", cs.info.ID, "err", err)
		return gnet.Close
	}
	return cs.serveParsed(frame, h, cs.clientID(h.clientID), frame[h.bodyOff:], owned, stream)
}

// serveParsed is serve once the header is parsed: body is the request body in frame (for a
// streamed frame, what its stream has not consumed).
func (cs *connState) serveParsed(frame []byte, h requestHeader, clientID string, body []byte, owned bool, stream FrameStream) gnet.Action {
	r := newResponder(cs)
	if owned {
		r.frame = frame
	}
	r.req = Request{
		APIKey:        h.apiKey,
		APIVersion:    h.apiVersion,
		CorrelationID: h.correlationID,
		ClientID:      clientID,
		Flexible:      h.flexible,
		Body:          body[:len(body):len(body)], // appending must not reach the pool
		Conn:          cs.info,
		Stream:        stream,
	}
	cs.mu.Lock()
	cs.queue.push(r)
	cs.mu.Unlock()
	cs.srv.stats.requests.Add(1)
	if !owned {
		cs.srv.stats.requestsInPlace.Add(1)
	}
	if stream != nil {
		cs.srv.stats.requestsStreamed.Add(1)
	}
	cs.srv.handler.ServeKafka(&r.req, r)
	if !owned {
		// The bytes go back to gnet when this returns; nothing may reach them through r. Only the
		// event loop recycles r, so it is still this request's.
		r.req.Body = nil
	}
	return gnet.None
}

// clientID returns b as a string, reusing the previous one when it is the same (clients send the
// same id on every request, so this saves an allocation per request).
func (cs *connState) clientID(b []byte) string {
	if string(b) != cs.lastClientID { // the conversion in a comparison does not allocate
		cs.lastClientID = string(b)
	}
	return cs.lastClientID
}

// checkLimits runs when onTraffic leaves: it closes a connection whose unconsumed bytes exceed
// InboundBufferedBytesMax, and arms the drain timer of a connection muted by its outbound buffer.
// Runs on the event loop.
func (cs *connState) checkLimits() gnet.Action {
	c, cfg := cs.c, &cs.srv.cfg
	// A frame being assembled counts as unconsumed: before netio assembled frames itself, those
	// bytes waited in gnet's buffer, and the limit is unchanged by where they wait.
	if held := c.InboundBuffered() + cs.partialN; held > cfg.InboundBufferedBytesMax {
		cs.srv.stats.inboundOverflows.Add(1)
		cs.srv.logDebug("netio: closing connection with too many unconsumed bytes", "conn", cs.info.ID,
			"bytes", held)
		return gnet.Close
	}
	// Muted by in-flight requests resumes when a completion wakes the loop; muted by the outbound
	// buffer has no event to wait for (gnet has no "drained" callback), so poll — only while
	// frames wait, since newly arriving bytes call onTraffic anyway.
	framesWait := c.InboundBuffered() > 0 || (cs.partial != nil && cs.frameLeft == 0)
	if cs.muted && framesWait && c.OutboundBuffered() > cfg.OutboundHighWaterBytes &&
		cs.drainTimerArmed.CompareAndSwap(false, true) {
		time.AfterFunc(outboundDrainPollInterval, func() {
			cs.drainTimerArmed.Store(false)
			_ = cs.c.Wake(nil) // an error means the engine is stopping; nothing to resume
		})
	}
	return gnet.None
}

// onClose releases every responder still queued that has been answered; pending ones are
// released by their completers, which see closed. Runs on the event loop.
func (cs *connState) onClose() {
	cs.mu.Lock()
	cs.closed = true
	var done []*responder
	for r := cs.queue.pop(); r != nil; r = cs.queue.pop() {
		if r.state != statePending {
			done = append(done, r)
		}
	}
	cs.mu.Unlock()
	for _, r := range done {
		r.release()
	}
	if cs.stream != nil {
		cs.stream.Abandon()
	}
	if cs.partial != nil {
		byteslice.Put(cs.partial)
	}
	cs.resetPartial()
}
