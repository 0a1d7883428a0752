package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/sluicemq/sluice/engine/broker"
	"github.com/sluicemq/sluice/netio"
)

// SluiceTarget is a Sluice broker embedded in the harness process: broker and netio server on
// 127.0.0.1, data in a temporary directory (or DataDir) on the real disk. Its CPU is part of the
// harness's own figure; run `sluice serve` and use -brokers/-broker-pid to measure it apart.
type SluiceTarget struct {
	DataDir   string          // empty: a temp dir, removed by Stop
	FetchPath netio.FetchPath // empty: netio's default
	Multicore bool            // one event loop per core

	b       *broker.Broker
	srv     *netio.Server
	tempDir string
}

func (t *SluiceTarget) Name() string { return "sluice" }
func (t *SluiceTarget) PID() int     { return 0 }

func (t *SluiceTarget) Start(ctx context.Context) ([]string, error) {
	if t.b != nil {
		panic("BUG: SluiceTarget started twice")
	}
	dir := t.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "sluicebench-sluice-")
		if err != nil {
			return nil, fmt.Errorf("start sluice: %w", err)
		}
		t.tempDir, dir = d, d
	}
	cfg := broker.DefaultConfig()
	cfg.LogDir = dir
	b, err := broker.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	srv, err := netio.NewServer(netio.Config{Addr: "127.0.0.1:0", Multicore: t.Multicore, FetchPath: t.FetchPath}, b)
	if err != nil {
		b.Close()
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		b.Close()
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr().String())
	p, _ := strconv.Atoi(port)
	b.SetAdvertisedAddr(host, int32(p))
	t.b, t.srv = b, srv
	return []string{srv.Addr().String()}, nil
}

func (t *SluiceTarget) Stop() error {
	var err error
	if t.srv != nil {
		t.srv.Stop()
		t.srv = nil
	}
	if t.b != nil {
		err = t.b.Close()
		t.b = nil
	}
	if t.tempDir != "" {
		if rerr := os.RemoveAll(t.tempDir); err == nil {
			err = rerr
		}
		t.tempDir = ""
	}
	return err
}
