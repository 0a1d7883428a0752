// Package netio is Sluice's network layer: gnet v2 event loops (one per core) that cut the Kafka
// byte stream into frames, decode the request header, hand each request to a Handler, and write
// the answers back in request order — bytes through gnet's writev and buffers, file regions with
// pread+write or sendfile(2).
//
// netio knows nothing of Kafka API semantics beyond framing: a handler returns bytes and file
// regions; netio adds the size prefix and the response header.
//
// # Wire format
//
// Request frame: int32 size (big-endian, not counting itself), then request header v1
// (int16 api key, int16 api version, int32 correlation id, int16-length nullable client id) or
// v2 (v1 followed by a tagged-field section), then the body. Whether a request uses v2 comes from
// kmsg's IsFlexible for that key and version; keys kmsg does not know are parsed as v1 and handed
// to the handler, which answers or closes.
//
// Response frame: int32 size, int32 correlation id, then an empty tagged-field section (one 0x00
// byte) when the request was flexible, except for ApiVersions (key 18) whose response header is
// always v0 (KIP-511), then the handler's parts in order.
//
// # Invariants
//
//   - Responses on one connection leave in request order, whichever goroutine answers and
//     whenever. Each connection keeps a FIFO of responders (its sequence); only completed
//     responders at the head are written.
//   - Each ResponseWriter is answered exactly once (Respond, NoResponse or Close); a second answer
//     panics with "BUG:".
//   - Every FileRegion handed to Respond has its Release called exactly once: after it was sent,
//     or when its connection closed first.
//   - Request.Body is a pooled copy of the frame, valid until the response has been written (so
//     response parts may alias it); a handler must not keep it after answering. Exception: a
//     request an InPlaceHandler serves in place aliases gnet's read buffer, valid only until
//     ServeKafka returns (netio then sets Body to nil and discards the bytes).
//   - netio copies each request byte at most once. A frame already whole in gnet's read buffer is
//     served in place (InPlaceHandler) or copied into a pooled frame; a frame still arriving is
//     assembled in its own pooled frame: what gnet has read is moved there, the rest is read from
//     the socket straight into it (gnet's buffer is then empty, so nothing is taken out of order).
//     A frame being assembled counts towards InboundBufferedBytesMax like gnet's buffered bytes.
//   - A frame of StreamFrameMinBytes or more that is being assembled, of a key and version a
//     StreamingHandler streams, reaches its FrameStream as it arrives: Arrived after each read
//     (reads capped at streamReadBytes, so each piece is handled while it is in the CPU cache),
//     with the bytes it has not consumed, never after a Close answer was queued; then ServeKafka
//     with Request.Stream set and the unconsumed rest as Body, or Abandon if the connection
//     closes first — exactly one of the two. A streamed frame larger than streamWindowBytes is
//     assembled in a window: consumed bytes are dropped and their memory reused (it grows when
//     the stream consumes nothing for longer than it holds), so reads land in memory still in
//     the cache. A stream that says where its next element ends (ElementSizer) has its window's
//     reads end there, so it consumes all that arrived and the next read goes to the window's
//     front: nothing is moved, and the reads keep landing in the same, cached, memory.
//   - Every Part with Recycle set has its bytes put back into the pool exactly once: after the
//     writev that carried them (gnet copies what the socket did not take), or when the connection
//     closed first.
//   - A frame whose size is negative or above SocketRequestMaxBytes, or whose header does not
//     parse, closes that connection only.
//   - A connection stops consuming frames while MaxInFlightPerConn of its requests are unwritten,
//     or while more than OutboundHighWaterBytes of its answered responses wait (in gnet's outbound
//     buffer, or queued behind an unanswered one), and resumes when they drain. gnet cannot drop read interest for a socket, so while a connection
//     is muted gnet keeps reading its bytes into the connection's inbound buffer; a connection
//     whose unconsumed bytes exceed InboundBufferedBytesMax is closed. Limits live in limits.go.
//
// # Goroutines
//
// OnOpen, OnTraffic and OnClose run on the connection's event loop and must never block: no
// locks held across I/O, no fsync, no waiting for the handler. Handler.ServeKafka runs on the
// event loop too; it must return quickly and may answer there (synchronously) or later from any
// goroutine. An answer from another goroutine marks its responder complete under the connection's
// mutex and, if it is now the head and the loop is not already flushing, wakes the loop with
// gnet's Conn.Wake; the loop then writes every completed head responder. All writes and sendfile
// calls happen on the event loop, never elsewhere; so do preads, except those of cold regions
// (below), which run on a goroutine of their own before the responder completes.
//
// # Fetch path
//
// FetchPath "copy" (the default) preads a FileRegion part chunk by chunk into a pooled buffer and
// hands it to gnet's Write. FetchPath "sendfile" sends it with sendfile(2) on the event loop when
// nothing is waiting in gnet's outbound buffer (the response prefix has fully left; sendfile
// would otherwise overtake it); the socket is non-blocking, so on a short write or EAGAIN the
// rest is pread+written and gnet owns ordering from there (Stats.SendfileFallbacks).
//
// Why copy is the default, measured on this 2-vCPU VM over loopback (BenchmarkFetchPath, 1 MiB
// region, 4 in flight, one event loop; medians of -count 5 in two runs, the second on a machine
// loaded by other work; CPU is server and client together):
//
//	path=copy      3095 / 1873 MB/s   0.47 / 0.55 cpu-s/GiB
//	path=sendfile  1318 / 1030 MB/s   0.90 / 0.89 cpu-s/GiB
//
// Over loopback the receiver copies either way, and sendfile's page splicing costs more than the
// memcpy it saves. Re-measure on a real NIC before changing the default.
//
// On another machine of the same kind with an Intel CPU (results/broker.md, twelfth pass) the
// micro-benchmark turned round: sendfile 5190 against copy's 3462 MB/s, 0.31 against 0.45
// cpu-s/GiB (medians of 6, interleaved). End to end, with a consumer, the two were within the
// noise, so copy stays the default. `sluice serve --fetch.path=sendfile` (or netio.Config.FetchPath)
// chooses sendfile on a broker where it measures better.
//
// Cold reads (Kafka's KAFKA-7504): pread or sendfile of data not in the page cache would stall
// the whole event loop for a disk read. Respond checks each FileRegion with cachestat(2) (no I/O);
// a response with a region not wholly cached is read on its own goroutine into pooled buffers and
// completed afterwards, its responder pending meanwhile (so its connection's order holds), and the
// loop serves other connections (Stats.ColdReads; BenchmarkColdFetch). Without cachestat (Linux
// before 6.5) every region counts as cached, as before.
//
// # Allocation budget
//
// Per request: none in steady state. Responders (each is also its request's ResponseWriter) are
// pooled: the event loop recycles one once its answer is written, or the connection's close
// disposed of it, so a second answer after that is undefined (before it, it panics). Header
// decoding allocates nothing (BenchmarkParseRequestHeader) and the client id string is reused
// while a connection keeps sending the same one. Frames, pread buffers and NewBuffer's response
// buffers come from gnet's power-of-two byteslice pool. Per byte: nothing (BenchmarkFetchPath,
// BenchmarkRequestResponse, BenchmarkRequestIngest; their allocs/op include the client's).
package netio
