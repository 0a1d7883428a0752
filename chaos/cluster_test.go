package chaos

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/sluicemq/sluice/harness"
)

// echoServer answers every line with itself, standing in for a broker's listener.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip dials addr, sends a line and reads it back within d; ok is false if any step fails.
func roundTrip(addr string, d time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

// proxiedNode is a Node with its two proxies in front of echo servers and no process.
func proxiedNode(t *testing.T) *Node {
	t.Helper()
	ports, err := harness.FreeLoopbackPorts(2)
	if err != nil {
		t.Fatal(err)
	}
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	n := &Node{ID: 1, ProxyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), VoterAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}
	n.kafkaPx = toxiproxy.NewProxy(api, "kafka-1", n.ProxyAddr, echoServer(t))
	n.ctrlPx = toxiproxy.NewProxy(api, "controller-1", n.VoterAddr, echoServer(t))
	for _, p := range []*toxiproxy.Proxy{n.kafkaPx, n.ctrlPx} {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
	}
	return n
}

// Both cut modes stop every byte into the node through both proxies, and a heal restores them,
// on the same addresses.
func TestCutAndHeal(t *testing.T) {
	n := proxiedNode(t)
	const short, long = 300 * time.Millisecond, 5 * time.Second
	for _, mode := range []string{CutRefuse, CutBlackhole, CutRefuse} {
		for _, addr := range []string{n.ProxyAddr, n.VoterAddr} {
			if !roundTrip(addr, long) {
				t.Fatalf("before the %s cut: no round trip through %s", mode, addr)
			}
		}
		// A connection open before the cut must not carry bytes after it either.
		open, err := net.Dial("tcp", n.ProxyAddr)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Cut(mode); err != nil {
			t.Fatal(err)
		}
		for _, addr := range []string{n.ProxyAddr, n.VoterAddr} {
			if roundTrip(addr, short) {
				t.Errorf("%s cut: a round trip through %s", mode, addr)
			}
		}
		open.SetDeadline(time.Now().Add(short))
		open.Write([]byte("ping\n"))
		if line, err := bufio.NewReader(open).ReadString('\n'); err == nil {
			t.Errorf("%s cut: a connection opened before the cut still answered %q", mode, line)
		}
		open.Close()
		if err := n.Heal(); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{n.ProxyAddr, n.VoterAddr} {
		if !roundTrip(addr, long) {
			t.Errorf("after the last heal: no round trip through %s", addr)
		}
	}
}
