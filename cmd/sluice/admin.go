package main

// The admin HTTP listener (admin.listener): /metrics, /healthz and /debug/pprof/.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicemq/sluice/netio"
)

// adminReadHeaderTimeout bounds a slow admin client. There is no write timeout: a CPU profile
// (/debug/pprof/profile?seconds=N) legitimately streams for N seconds.
const adminReadHeaderTimeout = 10 * time.Second

// statsSource is the network layer's counters: *netio.Server.
type statsSource interface {
	Stats() netio.Stats
}

// newAdminMux serves the admin endpoints. It is a mux of its own: net/http/pprof also registers on
// http.DefaultServeMux when imported, and that mux is never served.
//
// /metrics is client_golang's handler over a registry of its own holding netio's counters, the
// given collectors (the broker, when it is one: engine/broker implements prometheus.Collector), and
// the Go runtime and process collectors. Every collector reads its counters when scraped, on the
// HTTP goroutine, so it must read only what is safe to read from any goroutine.
func newAdminMux(stats statsSource, sources []prometheus.Collector) *http.ServeMux {
	reg := prometheus.NewRegistry()
	reg.MustRegister(networkCollector{stats}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range sources {
		reg.MustRegister(s)
	}
	mux := http.NewServeMux()
	// A collector's error (say, a duplicate series) fails the scrape with 500 and the error, so
	// a broken exposition is seen at once rather than served half.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
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

// networkCollector exports netio's counters (one Stats() snapshot per scrape).
type networkCollector struct{ stats statsSource }

var (
	descConnectionsOpen = prometheus.NewDesc("sluice_network_connections_open",
		"Kafka connections currently open.", nil, nil)
	descConnectionsAccepted = prometheus.NewDesc("sluice_network_connections_accepted_total",
		"Kafka connections accepted.", nil, nil)
	descRequests = prometheus.NewDesc("sluice_network_requests_total",
		"Request frames handed to the broker.", nil, nil)
	descBytesIn = prometheus.NewDesc("sluice_network_bytes_in_total",
		"Request frame bytes received, size prefixes included.", nil, nil)
	descBytesOut = prometheus.NewDesc("sluice_network_bytes_out_total",
		"Response bytes sent, by path: write (gnet writes, copied file regions) or sendfile.", []string{"path"}, nil)
	descRequestsInPlace = prometheus.NewDesc("sluice_network_requests_in_place_total",
		"Request frames served from the socket read buffer without a copy (Produce v3+ arriving whole).", nil, nil)
	descRequestsStreamed = prometheus.NewDesc("sluice_network_requests_streamed_total",
		"Request frames handed to the broker while their bytes arrived (Produce v3+ of 1 MiB or more not arriving whole).", nil, nil)
	descColdReads = prometheus.NewDesc("sluice_network_cold_reads_total",
		"Responses whose file regions were not in the page cache and were read off the event loop.", nil, nil)
	descSendfileFallbacks = prometheus.NewDesc("sluice_network_sendfile_fallbacks_total",
		"File regions finished with pread+write after a short sendfile.", nil, nil)
	descFramesRejected = prometheus.NewDesc("sluice_network_frames_rejected_total",
		"Frames that closed their connection: bad size or malformed header.", nil, nil)
	descInboundOverflows = prometheus.NewDesc("sluice_network_inbound_overflows_total",
		"Muted connections closed for holding too many unread bytes.", nil, nil)
	descMutes = prometheus.NewDesc("sluice_network_mutes_total",
		"Times a connection stopped reading requests because of a limit.", nil, nil)
)

func (networkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnectionsOpen, descConnectionsAccepted, descRequests, descBytesIn, descBytesOut,
		descRequestsInPlace, descRequestsStreamed, descColdReads, descSendfileFallbacks, descFramesRejected, descInboundOverflows, descMutes} {
		ch <- d
	}
}

func (n networkCollector) Collect(ch chan<- prometheus.Metric) {
	s := n.stats.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(descConnectionsOpen, prometheus.GaugeValue, float64(s.ConnectionsOpen))
	counter(descConnectionsAccepted, s.ConnectionsAccepted)
	counter(descRequests, s.Requests)
	counter(descBytesIn, s.BytesIn)
	counter(descBytesOut, s.BytesOutWrite, "write")
	counter(descBytesOut, s.BytesOutSendfile, "sendfile")
	counter(descRequestsInPlace, s.RequestsInPlace)
	counter(descRequestsStreamed, s.RequestsStreamed)
	counter(descColdReads, s.ColdReads)
	counter(descSendfileFallbacks, s.SendfileFallbacks)
	counter(descFramesRejected, s.FramesRejected)
	counter(descInboundOverflows, s.InboundOverflows)
	counter(descMutes, s.Mutes)
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
