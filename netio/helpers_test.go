package netio

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// ioTimeout bounds every client read and write in tests, so a bug fails a test instead of hanging
// the package.
const ioTimeout = 10 * time.Second

// wireEntry is one request of the kafka-wire captures (see their README).
type wireEntry struct {
	Client               string  `json:"-"`
	File                 string  `json:"file"`
	APIKey               int16   `json:"api_key"`
	APIVersion           int16   `json:"api_version"`
	Flexible             bool    `json:"flexible"`
	RequestHeaderVersion int     `json:"request_header_version"`
	CorrelationID        int32   `json:"correlation_id"`
	ClientID             *string `json:"client_id"`
	frame                []byte  // the .req file: size prefix included
}

// kafkaWireDir finds the captured client frames: $SLUICE_KAFKA_WIRE, a repository-level
// ../shared/testdata/kafka-wire beside the repository (as CI and sessions lay it out).
func kafkaWireDir(t testing.TB) string {
	candidates := []string{os.Getenv("SLUICE_KAFKA_WIRE"), "../../shared/testdata/kafka-wire", "/work/shared/testdata/kafka-wire"}
	for _, dir := range candidates {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
			return dir
		}
	}
	t.Fatal("kafka-wire captures not found (CI lays shared/ beside the clone); set SLUICE_KAFKA_WIRE")
	return ""
}

// loadKafkaWire returns every captured request, by client, in capture order.
func loadKafkaWire(t testing.TB) []wireEntry {
	dir := kafkaWireDir(t)
	indexes, err := filepath.Glob(filepath.Join(dir, "*", "index.json"))
	if err != nil || len(indexes) == 0 {
		t.Fatalf("no index.json under %s: %v", dir, err)
	}
	sort.Strings(indexes)
	var all []wireEntry
	for _, index := range indexes {
		raw, err := os.ReadFile(index)
		if err != nil {
			t.Fatal(err)
		}
		var entries []wireEntry
		if err := json.Unmarshal(raw, &entries); err != nil {
			t.Fatalf("%s: %v", index, err)
		}
		client := filepath.Base(filepath.Dir(index))
		for _, e := range entries {
			e.Client = client
			if e.frame, err = os.ReadFile(filepath.Join(filepath.Dir(index), e.File+".req")); err != nil {
				t.Fatal(err)
			}
			if len(e.frame) < 4 || int(binary.BigEndian.Uint32(e.frame)) != len(e.frame)-4 {
				t.Fatalf("%s/%s: size prefix does not match the file", client, e.File)
			}
			all = append(all, e)
		}
	}
	return all
}

// startServer starts a Server on 127.0.0.1:0 and stops it when the test ends.
func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.NumEventLoop == 0 {
		cfg.NumEventLoop = 2 // more than one loop, so connections land on different loops
	}
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// testClient is a raw Kafka-framing TCP client.
type testClient struct {
	t    testing.TB
	conn net.Conn
}

func dial(t testing.TB, s *Server) *testClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr().String(), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &testClient{t: t, conn: conn}
}

// request encodes a request frame: header v2 (empty tag section) if flexible, else v1.
func request(key, version int16, corr int32, clientID string, flexible bool, body []byte) []byte {
	var tags []byte
	if flexible {
		tags = []byte{0}
	}
	frame := appendRequestHeader(make([]byte, 4), key, version, corr, []byte(clientID), tags)
	frame = append(frame, body...)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

func (c *testClient) send(frames ...[]byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	for _, f := range frames {
		if _, err := c.conn.Write(f); err != nil {
			c.t.Fatalf("write: %v", err)
		}
	}
}

// readFrame reads one response frame and returns what follows the size prefix.
func (c *testClient) readFrame() []byte {
	c.t.Helper()
	f, err := c.tryReadFrame()
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return f
}

func (c *testClient) tryReadFrame() ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return nil, err
	}
	f := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.conn, f)
	return f, err
}

// readResponse reads one response frame and returns its correlation id and what follows it.
func (c *testClient) readResponse() (int32, []byte) {
	c.t.Helper()
	f := c.readFrame()
	if len(f) < 4 {
		c.t.Fatalf("response frame of %d bytes", len(f))
	}
	return int32(binary.BigEndian.Uint32(f)), f[4:]
}

// expectClosed fails unless the server closes the connection (EOF or reset) before any response.
func (c *testClient) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	var b [1]byte
	n, err := c.conn.Read(b[:])
	if n > 0 || err == nil {
		c.t.Fatalf("expected the connection closed, read %d bytes", n)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("connection still open after %v", ioTimeout)
	}
}

// eventually polls cond until it holds or ioTimeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// parkingHandler keeps every request and its ResponseWriter for the test to answer.
type parkingHandler struct {
	mu      sync.Mutex
	reqs    []Request // copies: Body is not copied, but stays valid until answered
	writers []ResponseWriter
}

func (h *parkingHandler) ServeKafka(req *Request, w ResponseWriter) {
	h.mu.Lock()
	h.reqs = append(h.reqs, *req)
	h.writers = append(h.writers, w)
	h.mu.Unlock()
}

func (h *parkingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reqs)
}

func (h *parkingHandler) get(i int) (Request, ResponseWriter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reqs[i], h.writers[i]
}

// bytesOf returns a Part of b.
func bytesOf(b []byte) Part { return Part{Bytes: b} }

// corrBody is a 4-byte response body carrying n, so tests can tell responses apart.
func corrBody(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
