package netio

import "sync/atomic"

// Stats is a snapshot of a Server's counters. All are totals since Start except ConnectionsOpen.
type Stats struct {
	ConnectionsOpen     int64  // connections currently open
	ConnectionsAccepted uint64 // connections accepted
	Requests            uint64 // frames handed to the handler
	RequestsInPlace     uint64 // of those, served from gnet's read buffer without a copy (InPlaceHandler)
	RequestsStreamed    uint64 // of those, handed to the handler while their bytes arrived (StreamingHandler)
	BytesIn             uint64 // request frame bytes consumed, size prefixes included
	BytesOutWrite       uint64 // response bytes handed to gnet's Write/Writev (headers, bytes, copied regions)
	BytesOutSendfile    uint64 // file region bytes sent with sendfile
	SendfileFallbacks   uint64 // file regions finished with pread+write on the sendfile path
	ColdReads           uint64 // responses whose file regions were read off the event loop (not cached)
	FramesRejected      uint64 // frames that closed their connection: bad size or malformed header
	InboundOverflows    uint64 // muted connections closed for holding too many unconsumed bytes
	Mutes               uint64 // times a connection stopped consuming frames because of a limit
}

// stats are the live counters behind Stats. Updated from every event loop; atomics, because a
// snapshot is read from any goroutine.
type stats struct {
	connectionsOpen     atomic.Int64
	connectionsAccepted atomic.Uint64
	requests            atomic.Uint64
	requestsInPlace     atomic.Uint64
	requestsStreamed    atomic.Uint64
	bytesIn             atomic.Uint64
	bytesOutWrite       atomic.Uint64
	bytesOutSendfile    atomic.Uint64
	sendfileFallbacks   atomic.Uint64
	coldReads           atomic.Uint64
	framesRejected      atomic.Uint64
	inboundOverflows    atomic.Uint64
	mutes               atomic.Uint64
}

func (s *stats) snapshot() Stats {
	return Stats{
		ConnectionsOpen:     s.connectionsOpen.Load(),
		ConnectionsAccepted: s.connectionsAccepted.Load(),
		Requests:            s.requests.Load(),
		RequestsInPlace:     s.requestsInPlace.Load(),
		RequestsStreamed:    s.requestsStreamed.Load(),
		BytesIn:             s.bytesIn.Load(),
		BytesOutWrite:       s.bytesOutWrite.Load(),
		BytesOutSendfile:    s.bytesOutSendfile.Load(),
		SendfileFallbacks:   s.sendfileFallbacks.Load(),
		ColdReads:           s.coldReads.Load(),
		FramesRejected:      s.framesRejected.Load(),
		InboundOverflows:    s.inboundOverflows.Load(),
		Mutes:               s.mutes.Load(),
	}
}
