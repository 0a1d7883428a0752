package main

// The admin HTTP listener (admin.listener): /metrics, /healthz and /debug/pprof/.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/sluicemq/sluice/netio"
)

// adminReadHeaderTimeout bounds a slow admin client. There is no write timeout: a CPU profile
// (/debug/pprof/profile?seconds=N) legitimately streams for N seconds.
const adminReadHeaderTimeout = 10 * time.Second

// MetricsSource adds metrics to /metrics. WriteMetrics writes complete metric families in the
// Prometheus text exposition format (version 0.0.4): # HELP and # TYPE lines, then samples, names
// prefixed sluice_. It is called on an HTTP goroutine, concurrently with the broker's work, so it
// must read only what is safe to read from any goroutine. engine/broker implements it when it
// has metrics of its own.
type MetricsSource interface {
	WriteMetrics(w io.Writer)
}

// statsSource is the network layer's counters: *netio.Server.
type statsSource interface {
	Stats() netio.Stats
}

// newAdminMux serves the admin endpoints. It is a mux of its own: net/http/pprof also registers on
// http.DefaultServeMux when imported, and that mux is never served.
func newAdminMux(stats statsSource, sources []MetricsSource) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var buf bytes.Buffer // whole, so a scrape never sees a half-written family
		writeNetworkMetrics(&buf, stats.Stats())
		for _, s := range sources {
			s.WriteMetrics(&buf)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also serves the named profiles: heap, goroutine, …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// writeNetworkMetrics writes netio's counters as Prometheus metric families.
func writeNetworkMetrics(w io.Writer, s netio.Stats) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, typ, help string, v uint64) {
		family(name, typ, help)
		fmt.Fprintf(w, "%s %d\n", name, v)
	}
	family("sluice_network_connections_open", "gauge", "Kafka connections currently open.")
	fmt.Fprintf(w, "sluice_network_connections_open %d\n", s.ConnectionsOpen)
	sample("sluice_network_connections_accepted_total", "counter", "Kafka connections accepted.", s.ConnectionsAccepted)
	sample("sluice_network_requests_total", "counter", "Request frames handed to the broker.", s.Requests)
	sample("sluice_network_bytes_in_total", "counter", "Request frame bytes received, size prefixes included.", s.BytesIn)
	family("sluice_network_bytes_out_total", "counter", "Response bytes sent, by path: write (gnet writes, copied file regions) or sendfile.")
	fmt.Fprintf(w, "sluice_network_bytes_out_total{path=\"write\"} %d\n", s.BytesOutWrite)
	fmt.Fprintf(w, "sluice_network_bytes_out_total{path=\"sendfile\"} %d\n", s.BytesOutSendfile)
	sample("sluice_network_sendfile_fallbacks_total", "counter", "File regions finished with pread+write after a short sendfile.", s.SendfileFallbacks)
	sample("sluice_network_frames_rejected_total", "counter", "Frames that closed their connection: bad size or malformed header.", s.FramesRejected)
	sample("sluice_network_inbound_overflows_total", "counter", "Muted connections closed for holding too many unread bytes.", s.InboundOverflows)
	sample("sluice_network_mutes_total", "counter", "Times a connection stopped reading requests because of a limit.", s.Mutes)
}

// startAdmin binds addr and serves h on it in the background. The listener is bound when it
// returns, so the caller can announce the address. Errors from serving arrive on the channel.
func startAdmin(addr string, h http.Handler) (*http.Server, net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("admin.listener %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: adminReadHeaderTimeout}
	errc := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			errc <- fmt.Errorf("admin.listener %s: %w", ln.Addr(), err)
		}
		close(errc)
	}()
	return srv, ln.Addr(), errc, nil
}
