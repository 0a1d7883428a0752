package netio

import "time"

// Every limit netio enforces, in one place. The *Default values fill zero Config fields.
const (
	// socketRequestMaxBytesDefault is Kafka's socket.request.max.bytes: a frame whose size prefix
	// is larger closes the connection before any of it is buffered as a request.
	socketRequestMaxBytesDefault = 104857600

	// inFlightPerConnMaxDefault bounds the unanswered requests of one connection (Kafka's
	// queued.max.requests, 500, applied per connection). At the limit the connection is muted:
	// no more frames are consumed until responses go out.
	inFlightPerConnMaxDefault = 500

	// outboundHighWaterBytesDefault mutes a connection whose responses pile up in gnet's
	// outbound buffer (a client that sends but does not read). gnet's buffer grows without
	// limit, so this is the only thing bounding it. 4 MiB holds a few max-size fetch responses
	// for a consumer that reads at a normal pace.
	outboundHighWaterBytesDefault = 4 << 20

	// inboundSlackBytes is added to SocketRequestMaxBytes to get the default
	// InboundBufferedBytesMax. Unmuted, a connection's unconsumed bytes are at most one partial
	// frame plus one gnet read (ReadBufferCap, 64 KiB); the slack lets a muted connection
	// hold a few more small requests before it is closed.
	inboundSlackBytes = 1 << 20

	// requestHeaderBytesMin is the smallest request header: api key (2), api version (2),
	// correlation id (4), client id length (2). A shorter frame is malformed.
	requestHeaderBytesMin = 10

	// responseHeaderBytesMax is size (4) + correlation id (4) + empty tag section (1).
	responseHeaderBytesMax = 9

	// responseFrameBytesMax: the size prefix is an int32.
	responseFrameBytesMax = 1<<31 - 1

	// iovMax is Linux's UIO_MAXIOV: writev rejects more buffers than this with EINVAL.
	iovMax = 1024

	// copyChunkBytes is how much of a file region one pread reads on the copy path and the
	// sendfile fallback. The pooled buffer is reused chunk to chunk because gnet's Write copies
	// whatever the socket does not take.
	copyChunkBytes = 1 << 20

	// sendfileChunkBytesMax is what Linux moves in one sendfile call at most (0x7ffff000).
	sendfileChunkBytesMax = 0x7ffff000

	// outboundDrainPollInterval is how often a connection muted by OutboundHighWaterBytes
	// re-checks its outbound buffer. gnet has no "drained" callback, so muted connections poll;
	// unmuted ones cost nothing.
	outboundDrainPollInterval = time.Millisecond
)
