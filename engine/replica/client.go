package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The follower's client: one TCP connection to a leader broker, one request at a time, requests
// encoded by kmsg at a fixed version (both ends are Sluice brokers of one build, so there is no
// ApiVersions negotiation). Responses are read into a buffer the connection reuses: a decoded
// Fetch response's RecordBatches alias it and are valid only until the next request.

// Limits of the follower's client.
const (
	// responseBytesMax bounds a response frame: a Fetch answer is at most
	// replica.fetch.response.max.bytes plus one batch per partition beyond it (Kafka's
	// minOneMessage), so anything near this is a broken peer.
	responseBytesMax = 256 << 20
	clientID         = "sluice-replica-fetcher"
)

// errResponse: the response could not be read or did not match the request.
var errResponse = errors.New("replica: bad response")

type conn struct {
	nc   net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
	req  []byte // reused request buffer
	resp []byte // reused response buffer
}

func dial(addr string, timeout time.Duration) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &conn{nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}, nil
}

func (c *conn) close() { _ = c.nc.Close() }

// do sends req and decodes the answer into resp (whose version do sets), all within timeout.
// Closing the connection from another goroutine makes it return at once.
func (c *conn) do(req kmsg.Request, resp kmsg.Response, timeout time.Duration) error {
	c.corr++
	c.req = c.fmt.AppendRequest(c.req[:0], req, c.corr)
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.nc.Write(c.req); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return err
	}
	n := int(int32(binary.BigEndian.Uint32(size[:])))
	if n < 4 || n > responseBytesMax {
		return fmt.Errorf("%w: frame of %d bytes", errResponse, n)
	}
	if cap(c.resp) < n {
		c.resp = make([]byte, n)
	}
	buf := c.resp[:n]
	if _, err := io.ReadFull(c.nc, buf); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != c.corr {
		return fmt.Errorf("%w: correlation id %d, sent %d", errResponse, got, c.corr)
	}
	body := buf[4:]
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() { // response header v1: a tagged-field section
		var ok bool
		if body, ok = skipTags(body); !ok {
			return fmt.Errorf("%w: response header tags", errResponse)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("%w: %s v%d: %v", errResponse, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return nil
}

// skipTags skips a tagged-field section.
func skipTags(p []byte) ([]byte, bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, false
	}
	p = p[k:]
	for ; n > 0; n-- {
		if _, k = binary.Uvarint(p); k <= 0 {
			return nil, false
		}
		p = p[k:]
		size, k := binary.Uvarint(p)
		if k <= 0 || size > uint64(len(p)-k) {
			return nil, false
		}
		p = p[k+int(size):]
	}
	return p, true
}
