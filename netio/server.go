package netio

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Server accepts Kafka connections on gnet event loops and serves their requests with a Handler.
type Server struct {
	cfg     Config
	handler Handler
	inPlace InPlaceHandler   // handler, if it serves some requests in place; else nil
	streams StreamingHandler // handler, if it streams some large frames; else nil
	stats   stats
	connIDs atomic.Uint64

	noCachestat atomic.Bool // cachestat(2) is missing: every file region counts as cached
	// coldCheck reports whether a file region is in the page cache (regionCached; tests replace
	// it before Start). coldReadHook, if set, runs before each cold read (tests).
	coldCheck    func(*FileRegion) bool
	coldReadHook func()

	started  atomic.Bool
	stopOnce sync.Once
	booted   chan struct{} // closed by OnBoot; eng and addr are set before
	done     chan struct{} // closed when gnet.Run has returned; runErr is set before
	eng      gnet.Engine
	addr     net.Addr
	runErr   error
}

// NewServer returns a Server for cfg (zero fields take their defaults) that serves requests
// with h. It does not listen until Start.
func NewServer(cfg Config, h Handler) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("netio: nil Handler")
	}
	ip, _ := h.(InPlaceHandler)
	sh, _ := h.(StreamingHandler)
	s := &Server{
		cfg:     cfg,
		handler: h,
		inPlace: ip,
		streams: sh,
		booted:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.coldCheck = s.regionCached
	return s, nil
}

// Start listens on Config.Addr and runs the event loops in the background. It returns once the
// listener is bound (Addr is then valid), or with the error that prevented it. ctx bounds the
// start only; Stop ends the server. Start may be called once.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("netio: Server started twice")
	}
	opts := []gnet.Option{
		gnet.WithMulticore(s.cfg.Multicore),
		gnet.WithNumEventLoop(s.cfg.NumEventLoop),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay), // responses are whole frames: never wait for more
		gnet.WithReuseAddr(true),             // rebind at once after a restart
		gnet.WithLogger(gnetLogger{s.cfg.Logger}),
	}
	if s.cfg.SocketSendBufferBytes > 0 {
		opts = append(opts, gnet.WithSocketSendBuffer(s.cfg.SocketSendBufferBytes))
	}
	go func() {
		defer close(s.done)
		s.runErr = gnet.Run(&eventHandler{srv: s}, "tcp://"+s.cfg.Addr, opts...)
	}()
	select {
	case <-s.booted:
		return nil
	case <-s.done:
		return fmt.Errorf("netio: serving on %s: %w", s.cfg.Addr, s.runErr)
	case <-ctx.Done():
		s.Stop()
		return ctx.Err()
	}
}

// Addr is the address the server listens on (with the port picked when Config.Addr had port 0).
// Valid after Start returned nil.
func (s *Server) Addr() net.Addr { return s.addr }

// Stop closes the listener and every connection, and returns when the event loops have exited.
// Answers arriving afterwards are dropped (their file regions released). Safe to call more than
// once, and before Start (a no-op).
func (s *Server) Stop() {
	if !s.started.Load() {
		return
	}
	s.stopOnce.Do(func() {
		select {
		case <-s.booted:
			// gnet's Engine.Stop polls for the end every 500 ms; with a cancelled context it
			// only starts the shutdown, and waiting for Run to return is exact.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = s.eng.Stop(ctx)
		case <-s.done: // Run failed before booting
		}
		<-s.done
	})
}

// Wait blocks until the server has stopped and returns gnet's error, if any.
func (s *Server) Wait() error {
	<-s.done
	return s.runErr
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

func (s *Server) logDebug(msg string, args ...any) {
	s.cfg.Logger.Debug(msg, args...)
}

// eventHandler adapts gnet's callbacks to the Server.
type eventHandler struct {
	gnet.BuiltinEventEngine
	srv *Server
}

// OnBoot records the engine and the bound address. Runs once, before the event loops start.
func (h *eventHandler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.srv
	s.eng = eng
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			s.addr = sockaddrToTCPAddr(sa)
		}
		_ = unix.Close(fd)
	}
	close(s.booted)
	return gnet.None
}

// OnOpen attaches netio's state to a new connection. Runs on its event loop.
func (h *eventHandler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s := h.srv
	cs := &connState{srv: s, c: c, info: ConnInfo{ID: s.connIDs.Add(1)}}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cs.info.RemoteAddr = a.AddrPort() // a copy: gnet recycles the address's zone bytes on close
	}
	c.SetContext(cs)
	s.stats.connectionsAccepted.Add(1)
	s.stats.connectionsOpen.Add(1)
	return nil, gnet.None
}

// OnTraffic runs on the event loop when bytes arrive or the connection is woken.
func (h *eventHandler) OnTraffic(c gnet.Conn) gnet.Action {
	cs, ok := c.Context().(*connState)
	if !ok {
		return gnet.Close
	}
	return cs.onTraffic()
}

// OnClose releases what the connection holds. Runs on its event loop.
func (h *eventHandler) OnClose(c gnet.Conn, _ error) gnet.Action {
	if cs, ok := c.Context().(*connState); ok {
		cs.onClose()
		h.srv.stats.connectionsOpen.Add(-1)
	}
	return gnet.None
}

func sockaddrToTCPAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)))
	case *unix.SockaddrInet6:
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)))
	}
	return nil
}

// gnetLogger routes gnet's logs to slog. gnet's info lines (start-up banners) go to debug.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) logf(level slog.Level, format string, args ...any) {
	if g.l.Enabled(context.Background(), level) { // skip the Sprintf for disabled levels
		g.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (g gnetLogger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args...) }
func (g gnetLogger) Infof(format string, args ...any)  { g.logf(slog.LevelDebug, format, args...) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args...) }
func (g gnetLogger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args...) }

// Fatalf logs at error level: gnet must not exit the broker's process.
func (g gnetLogger) Fatalf(format string, args ...any) { g.logf(slog.LevelError, format, args...) }
