package netio

// responderQueue is a connection's FIFO of unwritten responders, in request order: the
// per-connection sequence that keeps responses ordered. A ring buffer that doubles when full; its
// length is bounded by MaxInFlightPerConn, because a connection at the limit consumes no frames.
//
// Only the event loop pushes and pops, holding connState.mu; completers read head() under mu.
type responderQueue struct {
	buf  []*responder // len(buf) is zero or a power of two
	head int          // index of the oldest responder
	n    int          // number of responders queued
}

func (q *responderQueue) len() int { return q.n }

// peek returns the oldest responder, or nil if the queue is empty.
func (q *responderQueue) peek() *responder {
	if q.n == 0 {
		return nil
	}
	return q.buf[q.head]
}

func (q *responderQueue) push(r *responder) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = r
	q.n++
}

// pop removes and returns the oldest responder, or nil if the queue is empty.
func (q *responderQueue) pop() *responder {
	if q.n == 0 {
		return nil
	}
	r := q.buf[q.head]
	q.buf[q.head] = nil // let the responder (and its frame) be collected once written
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return r
}

func (q *responderQueue) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 4 // most connections have few requests in flight
	}
	buf := make([]*responder, size)
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = buf, 0
}
