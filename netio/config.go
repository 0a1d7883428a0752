package netio

import (
	"fmt"
	"log/slog"
)

// FetchPath selects how FileRegion parts are sent.
type FetchPath string

const (
	// FetchPathCopy preads file regions into a pooled buffer and writes them. The default: over
	// loopback on these machines it served 1 MiB regions 1.8-2.3x faster than sendfile with
	// 40-50% less CPU per byte (BenchmarkFetchPath; figures in doc.go).
	FetchPathCopy FetchPath = "copy"
	// FetchPathSendfile sends file regions with sendfile(2) when gnet's outbound buffer is
	// empty, falling back to pread+write for the rest on a short write. Worth re-measuring on a
	// real NIC, where it saves a copy.
	FetchPathSendfile FetchPath = "sendfile"
)

// Config configures a Server. Zero values take the defaults in limits.go.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free port (see Server.Addr).
	Addr string
	// Multicore runs one event loop per CPU; otherwise one event loop.
	Multicore bool
	// NumEventLoop, if > 0, overrides Multicore.
	NumEventLoop int
	// SocketRequestMaxBytes is the largest request frame accepted (Kafka's
	// socket.request.max.bytes, default 104857600).
	SocketRequestMaxBytes int
	// MaxInFlightPerConn is how many requests of one connection may be unanswered before it stops
	// consuming frames (default 500).
	MaxInFlightPerConn int
	// OutboundHighWaterBytes: a connection with more response bytes than this waiting in gnet's
	// outbound buffer stops consuming frames until they drain (default 4 MiB).
	OutboundHighWaterBytes int
	// InboundBufferedBytesMax closes a connection with more unconsumed bytes than this (only
	// reachable while it is muted; default SocketRequestMaxBytes + 1 MiB).
	InboundBufferedBytesMax int
	// FetchPath is how file regions are sent: FetchPathCopy (default) or FetchPathSendfile.
	FetchPath FetchPath
	// SocketSendBufferBytes, if > 0, sets SO_SNDBUF on accepted sockets (disabling the kernel's
	// autotuning); a larger buffer means fewer sendfile short writes.
	SocketSendBufferBytes int
	// Logger receives gnet's warnings and errors (default slog.Default()).
	Logger *slog.Logger
}

// withDefaults returns c with zero fields filled in, or an error for invalid values.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		return c, fmt.Errorf("netio: Config.Addr is empty")
	}
	if c.SocketRequestMaxBytes == 0 {
		c.SocketRequestMaxBytes = socketRequestMaxBytesDefault
	}
	if c.MaxInFlightPerConn == 0 {
		c.MaxInFlightPerConn = inFlightPerConnMaxDefault
	}
	if c.OutboundHighWaterBytes == 0 {
		c.OutboundHighWaterBytes = outboundHighWaterBytesDefault
	}
	if c.InboundBufferedBytesMax == 0 {
		c.InboundBufferedBytesMax = c.SocketRequestMaxBytes + inboundSlackBytes
	}
	if c.FetchPath == "" {
		c.FetchPath = FetchPathCopy
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.SocketRequestMaxBytes < requestHeaderBytesMin || c.SocketRequestMaxBytes > responseFrameBytesMax:
		return c, fmt.Errorf("netio: SocketRequestMaxBytes %d out of range [%d, %d]",
			c.SocketRequestMaxBytes, requestHeaderBytesMin, responseFrameBytesMax)
	case c.MaxInFlightPerConn < 1:
		return c, fmt.Errorf("netio: MaxInFlightPerConn %d < 1", c.MaxInFlightPerConn)
	case c.OutboundHighWaterBytes < 1:
		return c, fmt.Errorf("netio: OutboundHighWaterBytes %d < 1", c.OutboundHighWaterBytes)
	case c.InboundBufferedBytesMax < c.SocketRequestMaxBytes+4:
		// Smaller would close connections that are merely receiving one large frame.
		return c, fmt.Errorf("netio: InboundBufferedBytesMax %d < SocketRequestMaxBytes+4 (%d)",
			c.InboundBufferedBytesMax, c.SocketRequestMaxBytes+4)
	case c.FetchPath != FetchPathSendfile && c.FetchPath != FetchPathCopy:
		return c, fmt.Errorf("netio: unknown FetchPath %q (want %q or %q)",
			c.FetchPath, FetchPathSendfile, FetchPathCopy)
	case c.NumEventLoop < 0 || c.SocketSendBufferBytes < 0:
		return c, fmt.Errorf("netio: negative NumEventLoop or SocketSendBufferBytes")
	}
	return c, nil
}
