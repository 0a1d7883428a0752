package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/netio"
)

// Broker serves the Kafka APIs of one node. Create with New, then hand it to a netio.Server.
type Broker struct {
	cfg    Config
	logger *slog.Logger

	mu         sync.Mutex // topic creation/deletion
	topics     map[string]*topic
	topicsView atomic.Pointer[map[string]*topic] // copy-on-write view for lock-free lookups

	// Producer ids (single-broker mode), guarded by mu: the next to hand out, and the end of the
	// block reserved in the topics file, below which ids may have been handed out before a
	// restart (22_init_producer_id.go).
	nextProducerID  int64
	producerIDLimit int64
	advertised      atomic.Pointer[advertisedAddr] // what Metadata returns for this node
	apiMetrics      [maxAPIKey + 1]apiMetrics
	sessions        fetchSessionCache

	// Parked requests (long-poll fetches, acks=all produces) wait for progress: an append, a
	// high watermark advance or an assignment change. One broker-wide channel, closed and replaced
	// on progress while anyone waits. Simple, at the price of spurious wake-ups across partitions.
	waiters  atomic.Int32
	progress atomic.Pointer[chan struct{}]

	repl replication                    // replicated partitions' fetchers, peers and ISR changes (replication.go)
	link atomic.Pointer[ControllerLink] // the Raft controller, in cluster mode (controller.go)

	cleaner *log.Cleaner
	groups  *group.Coordinator // consumer groups and committed offsets (groups.go)
	closed  atomic.Bool
	parked  sync.WaitGroup // goroutines answering parked requests
	stop    chan struct{}
}

// New opens (or creates) the broker's data directory and every topic in it.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = DefaultNumPartitions
	}
	if cfg.MessageMaxBytes <= 0 {
		cfg.MessageMaxBytes = DefaultMessageMaxBytes
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return nil, fmt.Errorf("log.dirs %s: %w", cfg.LogDir, err)
	}
	b := &Broker{cfg: cfg, logger: cfg.Logger, topics: map[string]*topic{}, stop: make(chan struct{})}
	ch := make(chan struct{})
	b.progress.Store(&ch)
	b.SetAdvertisedAddr(cfg.AdvertisedHost, cfg.AdvertisedPort)
	if err := b.loadTopics(); err != nil {
		b.closeLogs()
		return nil, err
	}
	b.publishTopicsLocked()
	if err := b.openGroups(); err != nil {
		b.closeLogs()
		return nil, err
	}
	b.cleaner = log.StartCleaner(log.DefaultRetentionCheckInterval, b.allLogs)
	return b, nil
}

// SetRetentionCheckInterval restarts the retention cleaner at another interval
// (log.retention.check.interval.ms).
func (b *Broker) SetRetentionCheckInterval(ms int64) {
	if ms <= 0 {
		return
	}
	b.cleaner.Stop()
	b.cleaner = log.StartCleaner(msDuration(ms), b.allLogs)
}

func (b *Broker) allLogs() []*log.Log {
	var out []*log.Log
	for _, t := range *b.topicsView.Load() {
		for _, p := range t.partitions {
			out = append(out, p.log)
		}
	}
	return out
}

// Close stops the cleaner, waits for parked requests and closes every log cleanly.
func (b *Broker) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	close(b.stop)
	if l := b.link.Load(); l != nil {
		l.Close() // no image applied, nor heartbeat sent, past this point
	}
	b.stopReplication() // fetchers write to the logs; they stop first
	b.cleaner.Stop()
	groupsErr := b.groups.Close() // answers parked JoinGroup/SyncGroup requests
	b.parked.Wait()
	return errors.Join(groupsErr, b.closeLogs())
}

func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for _, t := range b.topics {
		for _, p := range t.partitions {
			p.mu.Lock()
			err = errors.Join(err, p.saveProducerState(), p.log.Close())
			p.mu.Unlock()
		}
	}
	return err
}

// api describes one Kafka API: the version range advertised in ApiVersions and its handler.
type api struct {
	min, max int16
	// serve answers a decoded request; it must call exactly one of w's methods, now or later.
	serve func(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter)
	// wire, if set, is a hand-written decoder for a measured hot path; it returns false for the
	// versions it leaves to serve.
	wire func(b *Broker, req *netio.Request, w netio.ResponseWriter) bool
}

// apis is the supported surface: each API file registers itself from its init (register), so
// the directory listing is the list of APIs. The ranges start low where librdkafka needs them to
// (../shared/KAFKA-COMPAT.md, trap 1) and stop below the versions that name topics by id.
var apis map[int16]api

// maxAPIKey bounds the per-API metrics array (Kafka's keys stay below 100).
const maxAPIKey = 99

// maxDecodedRequestBytes caps the body of a request decoded by kmsg (every API but the hand-written
// Produce path). kmsg allocates a whole array as soon as it reads a count that fits the remaining
// bytes, so a malformed body can make it allocate up to ~64× its size (Fetch v4, measured by
// TestMalformedRequestAllocationBounded); the cap bounds that at 64 MiB per request instead of
// 6 GiB at socket.request.max.bytes. Real control-plane requests are far smaller: a Fetch or
// OffsetCommit naming 10,000 partitions is ~300 KiB.
const maxDecodedRequestBytes = 1 << 20

func register(key, min, max int16, serve func(*Broker, *netio.Request, kmsg.Request, netio.ResponseWriter)) {
	if apis == nil {
		apis = map[int16]api{}
	}
	if key < 0 || key > maxAPIKey {
		panic(fmt.Sprintf("BUG: api key %d beyond maxAPIKey", key))
	}
	if _, dup := apis[key]; dup {
		panic(fmt.Sprintf("BUG: api key %d registered twice", key))
	}
	apis[key] = api{min: min, max: max, serve: serve}
}

// registerWire adds a hand-written decoder to a registered API.
func registerWire(key int16, wire func(*Broker, *netio.Request, netio.ResponseWriter) bool) {
	a, ok := apis[key]
	if !ok {
		panic(fmt.Sprintf("BUG: registerWire(%d) before register", key))
	}
	a.wire = wire
	apis[key] = a
}

// simple adapts a handler that answers at once with a kmsg response.
func simple(h func(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response) func(*Broker, *netio.Request, kmsg.Request, netio.ResponseWriter) {
	return func(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
		resp := h(b, req, kreq)
		w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
	}
}

// offLoop adapts a handler that does disk work (fsyncs, creating or deleting logs): it runs on its
// own goroutine so the event loop, and every other connection on it, never waits for the disk.
// netio's per-connection in-flight limit bounds how many can run.
func offLoop(h func(b *Broker, req *netio.Request, kreq kmsg.Request) kmsg.Response) func(*Broker, *netio.Request, kmsg.Request, netio.ResponseWriter) {
	return func(b *Broker, req *netio.Request, kreq kmsg.Request, w netio.ResponseWriter) {
		b.parked.Add(1)
		go func() {
			defer b.parked.Done()
			resp := h(b, req, kreq)
			w.Respond(netio.Part{Bytes: resp.AppendTo(nil)})
		}()
	}
}

// ServeKafka implements netio.Handler. Runs on an event loop: decodes, dispatches, never blocks.
func (b *Broker) ServeKafka(req *netio.Request, w netio.ResponseWriter) {
	if isControllerRPC(req.APIKey) {
		if l := b.link.Load(); l != nil { // broker-to-controller forwarding (controller_rpc.go)
			l.serveControllerRPC(req, w)
			return
		}
	}
	a, ok := apis[req.APIKey]
	if !ok {
		b.logger.Debug("unsupported api key; closing connection", "key", req.APIKey, "client", req.ClientID)
		w.Close()
		return
	}
	if req.APIVersion < a.min || req.APIVersion > a.max {
		if req.APIKey == 18 { // KIP-511: answer in v0 with our range so the client retries lower
			w.Respond(netio.Part{Bytes: apiVersionsUnsupported()})
			return
		}
		b.logger.Debug("unsupported api version; closing connection", "key", req.APIKey, "version", req.APIVersion)
		w.Close()
		return
	}
	tw := timedWriterPool.Get().(*timedWriter)
	tw.ResponseWriter, tw.start, tw.m = w, time.Now(), &b.apiMetrics[req.APIKey]
	if a.wire != nil && a.wire(b, req, tw) {
		return
	}
	if len(req.Body) > maxDecodedRequestBytes {
		b.logger.Warn("request body above the decode limit; closing connection", "key", req.APIKey, "bytes", len(req.Body), "limit", maxDecodedRequestBytes)
		tw.Close()
		return
	}
	kreq := kmsg.RequestForKey(req.APIKey)
	kreq.SetVersion(req.APIVersion)
	if err := kreq.ReadFrom(req.Body); err != nil {
		b.logger.Debug("malformed request; closing connection", "key", req.APIKey, "version", req.APIVersion, "err", err)
		tw.Close()
		return
	}
	a.serve(b, req, kreq, tw)
}

// notifyAppend wakes parked requests: after an append, a high watermark advance or an
// assignment change.
func (b *Broker) notifyAppend() {
	if b.waiters.Load() == 0 {
		return
	}
	ch := make(chan struct{})
	if old := b.progress.Swap(&ch); old != nil {
		close(*old)
	}
}

// ErrorMessage helper for responses that carry one.
func strPtr(s string) *string { return &s }

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// SetAdvertisedAddr sets the host and port Metadata returns (a listener bound to port 0 learns its
// port only once listening). Call before serving.
func (b *Broker) SetAdvertisedAddr(host string, port int32) {
	b.advertised.Store(&advertisedAddr{host, port})
}

type advertisedAddr struct {
	host string
	port int32
}
