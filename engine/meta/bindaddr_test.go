package meta

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// forwarder relays every connection accepted on its listener to upstream: a stand-in for a proxy
// between the voters.
type forwarder struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startForwarder(t *testing.T, listen, upstream string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

// TestBindAddrBehindForwarder: each node's Raft transport listens on BindAddr while the voters
// name a forwarder in front of it (a proxy, as the chaos suite puts between brokers). Nothing
// listens on the voter addresses but the forwarders, so an elected leader whose proposals apply on
// all three shows that every voter dialled the voter addresses and was answered from BindAddr.
func TestBindAddrBehindForwarder(t *testing.T) {
	ports := freePorts(t, 6)
	voterPorts, bindPorts := ports[:3], ports[3:]
	voters, err := ParseQuorumVoters(fmt.Sprintf("1@127.0.0.1:%d,2@127.0.0.1:%d,3@127.0.0.1:%d",
		voterPorts[0], voterPorts[1], voterPorts[2]))
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{t: t, voters: voters, dirs: map[int32]string{}, nodes: map[int32]*Controller{}}
	defer func() {
		for id := range cl.nodes {
			cl.stop(id)
		}
	}()
	for i, v := range voters {
		bind := fmt.Sprintf("127.0.0.1:%d", bindPorts[i])
		startForwarder(t, v.Addr(), bind)
		cfg := testConfig(t, v.ID, voters, t.TempDir())
		cfg.BindAddr = bind
		c, err := Open(cfg)
		if err != nil {
			t.Fatalf("node %d: %v", v.ID, err)
		}
		cl.nodes[v.ID] = c
	}
	leader := cl.leader()
	registerAndUnfence(t, leader, 1, 2, 3)
	img := cl.converged(leader)
	if len(img.UnfencedBrokers()) != 3 {
		t.Fatalf("want 3 registered brokers on every node, got image %v", img)
	}
}
