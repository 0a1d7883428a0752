package meta

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The CONTROLLER listener carries two things: hashicorp/raft's RPCs, whose connections open
// with a message-type byte 0–3, and the join handshake of a broker outside the quorum, which
// opens with joinMagic. muxStreamLayer tells them apart by that first byte, hands raft its
// connections untouched (the byte replayed) and answers joins itself.
//
// The join handshake: a non-voter dials a voter's controller address, sends joinMagic and a
// JSON joinRequest line, and reads a JSON joinResponse line. The voter that is the Raft leader
// adds the node as a non-voter (it then receives the log, or a snapshot, like any follower but
// never votes); any other voter answers with the leader it knows, and the non-voter asks again.

const (
	joinMagic = 'J'
	// joinIOTimeout bounds each step of a handshake on either side.
	joinIOTimeout = 10 * time.Second
	// joinMaxLine bounds a handshake line: a node id and an address fit in far less.
	joinMaxLine = 4 << 10
)

type joinRequest struct {
	NodeID int32  `json:"nodeId"`
	Addr   string `json:"addr"` // the non-voter's own controller address, where raft reaches it
}

type joinResponse struct {
	OK     bool   `json:"ok"`
	Leader string `json:"leader,omitempty"` // when not OK: the leader's controller address, if known
	Error  string `json:"error,omitempty"`
}

// muxStreamLayer is a raft.StreamLayer over one TCP listener.
type muxStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	join      func(joinRequest) joinResponse // set before the listener accepts (Open)

	conns   chan net.Conn
	closed  chan struct{}
	closeMu sync.Once
}

func newMuxStreamLayer(bind string, advertise net.Addr) (*muxStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	m := &muxStreamLayer{ln: ln, advertise: advertise, conns: make(chan net.Conn), closed: make(chan struct{})}
	if m.advertise == nil {
		m.advertise = ln.Addr()
	}
	return m, nil
}

// start begins accepting; join answers handshakes.
func (m *muxStreamLayer) start(join func(joinRequest) joinResponse) {
	m.join = join
	go m.acceptLoop()
}

func (m *muxStreamLayer) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.Close()
			return
		}
		go m.route(c) // a slow first byte never holds up other connections
	}
}

// route reads a connection's first byte and gives it to raft or answers a join.
func (m *muxStreamLayer) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(joinIOTimeout))
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if first[0] == joinMagic {
		m.answerJoin(c)
		return
	}
	select {
	case m.conns <- &prefixConn{Conn: c, prefix: first[0], pending: true}:
	case <-m.closed:
		c.Close()
	}
}

func (m *muxStreamLayer) answerJoin(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(joinIOTimeout))
	line, err := bufio.NewReaderSize(io.LimitReader(c, joinMaxLine), joinMaxLine).ReadBytes('\n')
	if err != nil {
		return
	}
	var req joinRequest
	resp := joinResponse{Error: "malformed join request"}
	if json.Unmarshal(line, &req) == nil && req.Addr != "" {
		resp = m.join(req)
	}
	b, _ := json.Marshal(resp)
	_, _ = c.Write(append(b, '\n'))
}

// Accept implements net.Listener for raft.
func (m *muxStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

func (m *muxStreamLayer) Close() error {
	err := net.ErrClosed
	m.closeMu.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

func (m *muxStreamLayer) Addr() net.Addr { return m.advertise }

// Dial implements raft.StreamLayer.
func (m *muxStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(address), timeout)
}

// prefixConn replays the byte route consumed.
type prefixConn struct {
	net.Conn
	prefix  byte
	pending bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.pending && len(b) > 0 {
		b[0], p.pending = p.prefix, false
		return 1, nil
	}
	return p.Conn.Read(b)
}

// askToJoin sends one join handshake to a voter's controller address.
func askToJoin(addr string, req joinRequest) (joinResponse, error) {
	c, err := net.DialTimeout("tcp", addr, joinIOTimeout)
	if err != nil {
		return joinResponse{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(joinIOTimeout))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(append([]byte{joinMagic}, b...), '\n')); err != nil {
		return joinResponse{}, err
	}
	line, err := bufio.NewReaderSize(io.LimitReader(c, joinMaxLine), joinMaxLine).ReadBytes('\n')
	if err != nil {
		return joinResponse{}, fmt.Errorf("join %s: %w", addr, err)
	}
	var resp joinResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return joinResponse{}, fmt.Errorf("join %s: %w", addr, err)
	}
	return resp, nil
}
