package main

// `sluice serve`: resolve the configuration (or print it), lock the data directory, raise and
// check the open-file limit, open the broker, serve it with netio, run the admin HTTP listener,
// stop on a signal.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/engine/broker"
	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/netio"
)

// adminShutdownTimeout bounds how long a stop waits for admin requests in flight (a running CPU
// profile is cut off after it).
const adminShutdownTimeout = 5 * time.Second

// kafkaBroker is what serve needs of engine/broker: netio's Handler, and a Close that waits for
// parked requests and closes every log cleanly (writing the clean-shutdown markers). If it also
// implements prometheus.Collector, /metrics includes its metrics.
type kafkaBroker interface {
	netio.Handler
	Close() error
}

// retentionCheckSetter is the optional part of kafkaBroker that applies
// log.retention.check.interval.ms.
type retentionCheckSetter interface {
	SetRetentionCheckInterval(ms int64)
}

// The real broker provides all of it; these fail the build if that changes.
var (
	_ kafkaBroker          = (*broker.Broker)(nil)
	_ prometheus.Collector = (*broker.Broker)(nil)
	_ retentionCheckSetter = (*broker.Broker)(nil)
	_ advertisedAddrSetter = (*broker.Broker)(nil)
)

// openBroker opens the broker the binary serves.
func openBroker(cfg broker.Config) (kafkaBroker, error) {
	b, err := broker.New(cfg)
	if err != nil {
		return nil, err // not b: a nil *Broker in the interface would not compare equal to nil
	}
	return b, nil
}

// runServe is `sluice serve ARGS`: it returns the exit status.
func runServe(args []string, env serveEnv, stdout, stderr io.Writer) int {
	inv, err := loadServe(args, env)
	if inv.help {
		printServeUsage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice serve: %v\n", err)
		return exitUsage
	}
	cfg := inv.cfg
	if inv.printConfig {
		for _, w := range inv.warnings {
			fmt.Fprintf(stderr, "sluice serve: warning: %s\n", w)
		}
		if err := writePrintConfig(stdout, inv.format, &inv); err != nil {
			fmt.Fprintf(stderr, "sluice serve: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	for _, w := range inv.warnings {
		logger.Warn(w)
	}
	if procs, raise := writeBehindProcs(cfg.Broker.LogDefaults.WriteMode, env, runtime.GOMAXPROCS(0)); raise {
		runtime.GOMAXPROCS(procs)
		logger.Info("log.write.mode=direct: one Go processor more than CPUs (set GOMAXPROCS to choose)", "GOMAXPROCS", procs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		select {
		case sig := <-sigc:
			logger.Info("stopping; a second signal kills", "signal", sig.String())
			signal.Stop(sigc) // restores the default action for the second one
			cancel()
		case <-ctx.Done():
		}
	}()

	if err := serve(ctx, cfg, openBroker, stdout, logger); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			// As Kafka shuts down when its log directory fails: say what to do about it.
			logger.Error("sluice serve failed: the disk holding log.dirs is full; free space on it and start again", "err", err)
		} else {
			logger.Error("sluice serve failed", "err", err)
		}
		return exitFail
	}
	return exitOK
}

// writeBehindProcs is the GOMAXPROCS a broker in log.write.mode=direct runs with: one more
// than the runtime chose (current), unless the GOMAXPROCS environment variable says otherwise.
// raise is false when nothing is to change.
//
// Why: the writers' O_DIRECT writes block in the kernel for the device (about 200 µs each here)
// and the event loops block in epoll_wait between requests. While every P is busy, the runtime's
// sysmon takes the P of any syscall that outlasts its 20 µs tick and hands it to another thread,
// which usually finds nothing to run and sleeps again; and as long as it finds such Ps, sysmon
// itself stays at that tick. A spare P makes it leave those syscalls alone. At one partition
// with 400 MB/s offered, the extra P took the broker from 0.72 to 0.51 CPU-s/GiB (medians of 4
// interleaved rounds), sysmon's sleeps from 29 k to 1.2 k in 5 s and the broker's context
// switches from 45 k to 15 k. Buffered mode did not change (0.74 and 0.75), nor did 12
// partitions, whose 12 writers keep every P busy (results/broker.md, "sixth pass").
func writeBehindProcs(mode log.WriteMode, env serveEnv, current int) (procs int, raise bool) {
	if mode != log.WriteDirect {
		return current, false
	}
	if _, set := env.get("GOMAXPROCS"); set {
		return current, false
	}
	return current + 1, true
}

// serve opens the broker with open, serves it on cfg.ListenAddr and the admin endpoints on
// cfg.AdminAddr, prints the listening line on stdout once both accept connections, and runs until
// ctx is done. Then it stops accepting, closes the broker and the admin listener, and returns nil
// if all of that went cleanly. Whatever it started is stopped on every return path.
func serve(ctx context.Context, cfg serveConfig, open func(broker.Config) (kafkaBroker, error), stdout io.Writer, logger *slog.Logger) error {
	if len(cfg.Ignored) > 0 {
		keys := make([]string, len(cfg.Ignored))
		for i, s := range cfg.Ignored {
			keys[i] = s.key
		}
		logger.Info("ignoring Kafka settings that mean nothing to a single Sluice node", "keys", strings.Join(keys, ","))
	}
	if len(cfg.LogDirsUnused) > 0 {
		logger.Warn("log.dirs: Sluice uses only the first directory",
			"used", cfg.Broker.LogDir, "unused", strings.Join(cfg.LogDirsUnused, ","))
	}

	listenAddr := cfg.ListenAddr
	bcfg := cfg.Broker
	bcfg.Logger = logger.With("component", "broker")
	// Raised before the logs open (each holds descriptors); judged after, against what they hold.
	fileLimit := raiseOpenFileLimit()
	logger.Info("opening broker", "node.id", bcfg.NodeID, "log.dir", bcfg.LogDir,
		"advertised", net.JoinHostPort(bcfg.AdvertisedHost, strconv.Itoa(int(bcfg.AdvertisedPort))))
	if _, err := os.Stat(bcfg.LogDir); errors.Is(err, os.ErrNotExist) {
		logger.Info("creating the data directory (first start)", "log.dir", bcfg.LogDir)
	}
	unlock, err := lockDataDir(bcfg.LogDir)
	if err != nil {
		return err
	}
	defer unlock() // after the broker is closed: every return path below closes it first
	if cfg.MutexProfileFraction > 0 {
		runtime.SetMutexProfileFraction(cfg.MutexProfileFraction)
	}
	if cfg.BlockProfileRate > 0 {
		runtime.SetBlockProfileRate(cfg.BlockProfileRate)
	}
	b, err := open(bcfg)
	if err != nil {
		return fmt.Errorf("opening broker: %w", err)
	}
	base := b // the broker itself, for its optional interfaces; b may wrap it below
	// Cluster mode: this node's member of the Raft controller quorum, on its voter address (the
	// CONTROLLER listener), with its log and snapshots under the data directory. Closed after the
	// broker (closeBroker below closes the broker, and with it the controller link, first).
	var ctrl *meta.Controller
	if len(cfg.Voters) > 0 {
		ctrl, err = meta.Open(meta.Config{NodeID: bcfg.NodeID, Voters: cfg.Voters, ListenAddr: cfg.ControllerAddr, BindAddr: cfg.ControllerBindAddr,
			Dir: filepath.Join(bcfg.LogDir, metaDirName), Logger: logger.With("component", "controller")})
		if err != nil {
			return closeBroker(b, fmt.Errorf("controller: %w", err))
		}
		logger.Info("controller quorum member", "voters", meta.FormatQuorumVoters(cfg.Voters),
			"dir", filepath.Join(bcfg.LogDir, metaDirName))
		b = &clusterBroker{kafkaBroker: base, ctrl: ctrl}
	}
	checkOpenFiles(logger, fileLimit, openFilesInUse())
	if cfg.RetentionCheckIntervalMs != defaultRetentionCheckInterval {
		if s, ok := base.(retentionCheckSetter); ok {
			s.SetRetentionCheckInterval(cfg.RetentionCheckIntervalMs)
		} else {
			logger.Warn("log.retention.check.interval.ms is not applied: the broker has no setting for it")
		}
	}
	if ctx.Err() != nil { // stopped while the logs were recovering
		return closeBroker(b, nil)
	}

	// Attached before the listener opens, so no client request reaches a cluster-mode broker
	// without its link (it would be answered as a single node). Config requires a fixed port.
	var link *broker.ControllerLink
	if ctrl != nil {
		a, ok := base.(controllerAttacher)
		if !ok {
			return closeBroker(b, errors.New("controller: the broker cannot attach one"))
		}
		if link, err = a.AttachController(broker.ControllerLinkConfig{Controller: ctrl, Host: bcfg.AdvertisedHost, Port: bcfg.AdvertisedPort,
			SessionTimeoutMs: cfg.SessionTimeoutMs, HeartbeatIntervalMs: cfg.HeartbeatIntervalMs,
			LeaderImbalanceCheckIntervalMs: cfg.LeaderImbalanceCheckIntervalMs,
			Policy:                         meta.Policy{UncleanLeaderElection: bcfg.UncleanLeaderElection}}); err != nil {
			return closeBroker(b, fmt.Errorf("controller: %w", err))
		}
	}

	srv, err := netio.NewServer(netio.Config{
		Addr:                  listenAddr,
		Multicore:             true, // one event loop per CPU, as netio is designed to run
		SocketRequestMaxBytes: cfg.SocketRequestMaxBytes,
		FetchPath:             cfg.FetchPath,
		Logger:                logger.With("component", "netio"),
	}, b)
	if err != nil {
		return closeBroker(b, fmt.Errorf("listeners: %w", err))
	}
	if err := srv.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return closeBroker(b, nil)
		}
		return closeBroker(b, fmt.Errorf("listeners: %w", err))
	}
	// Port 0: the listener picked one; the broker advertises it from now on (before any client
	// can have asked, since the listening line is not printed yet).
	listenAddr = srv.Addr().String()
	if bcfg.AdvertisedPort == 0 {
		_, port, _ := net.SplitHostPort(listenAddr)
		p, _ := strconv.Atoi(port)
		if s, ok := base.(advertisedAddrSetter); ok {
			s.SetAdvertisedAddr(bcfg.AdvertisedHost, int32(p))
		}
	}
	netDone := make(chan error, 1)
	go func() { netDone <- srv.Wait() }()

	var (
		admin    *http.Server
		adminErr <-chan error // nil when disabled: never ready
		adminURL = "off"
	)
	if cfg.AdminAddr != "" {
		var sources []prometheus.Collector
		if m, ok := base.(prometheus.Collector); ok {
			sources = append(sources, m)
		}
		var addr net.Addr
		admin, addr, adminErr, err = startAdmin(cfg.AdminAddr, newAdminMux(srv, sources))
		if err != nil {
			srv.Stop()
			return closeBroker(b, err)
		}
		adminURL = "http://" + addr.String()
	}

	bound := listenAddr
	if a := srv.Addr(); a != nil {
		bound = a.String()
	}
	logger.Info("serving", "listener", bound, "admin", adminURL)
	fmt.Fprintf(stdout, "sluice: listening on %s (node %d, data %s, admin %s)\n", bound, bcfg.NodeID, bcfg.LogDir, adminURL)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-netDone:
		runErr = fmt.Errorf("network layer stopped on its own: %v", err)
	case err := <-adminErr:
		runErr = err
	}

	// A stop that hangs must say where: past shutdownStackDumpAfter the goroutines' stacks go to
	// stderr, once (a chaos run's final stop once saw the last node not exit within 60 s of
	// SIGTERM, with nothing in its log to say why). The stop goes on either way.
	stopped := make(chan struct{})
	defer close(stopped)
	go dumpStacksIfSlow(stopped, shutdownStackDumpAfter, os.Stderr, logger)

	// Controlled shutdown first, while clients and followers can still reach this broker: they
	// move to the new leaders instead of waiting out a session timeout.
	if link != nil && cfg.ControlledShutdown {
		sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.SessionTimeoutMs)*time.Millisecond)
		if err := link.ControlledShutdown(sctx); err != nil {
			logger.Warn("controlled shutdown incomplete: stopping anyway", "err", err)
		}
		cancel()
	}
	// Stop accepting and answering, so nothing reaches the broker while it closes; keep the
	// admin listener to the end, for pprof if closing hangs.
	srv.Stop()
	runErr = closeBroker(b, runErr)
	if admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), adminShutdownTimeout)
		if err := admin.Shutdown(sctx); err != nil {
			_ = admin.Close()
		}
		cancel()
	}
	if runErr == nil {
		logger.Info("stopped cleanly")
	}
	return runErr
}

// shutdownStackDumpAfter: how long a stop may take before serve writes every goroutine's stack to
// stderr (a controlled shutdown is bounded by broker.session.timeout.ms, closing the logs by their
// fsyncs; tens of seconds means something waits that should not).
const shutdownStackDumpAfter = 20 * time.Second

// dumpStacksIfSlow writes all goroutine stacks to w if stopped is not closed within after.
func dumpStacksIfSlow(stopped <-chan struct{}, after time.Duration, w io.Writer, logger *slog.Logger) {
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		logger.Warn("stop is taking long: goroutine stacks follow on stderr", "after", after)
		_ = pprof.Lookup("goroutine").WriteTo(w, 2)
	}
}

// closeBroker closes b and returns err joined with Close's error.
func closeBroker(b kafkaBroker, err error) error {
	if cerr := b.Close(); cerr != nil {
		return errors.Join(err, fmt.Errorf("closing broker: %w", cerr))
	}
	return err
}

// metaDirName is the controller's directory (Raft log and snapshots) under log.dirs in cluster mode.
const metaDirName = "__sluice_meta"

// controllerAttacher is the broker's cluster-mode seam (engine/broker's AttachController).
type controllerAttacher interface {
	AttachController(broker.ControllerLinkConfig) (*broker.ControllerLink, error)
}

var _ controllerAttacher = (*broker.Broker)(nil)

// clusterBroker closes the node's controller after its broker (whose Close stops the link).
type clusterBroker struct {
	kafkaBroker
	ctrl *meta.Controller
}

// ServesInPlace forwards netio's in-place question to the broker: an embedded interface does not
// promote the method, and without it a cluster node would copy every Produce frame.
func (c *clusterBroker) ServesInPlace(apiKey, apiVersion int16) bool {
	ip, ok := c.kafkaBroker.(netio.InPlaceHandler)
	return ok && ip.ServesInPlace(apiKey, apiVersion)
}

var _ netio.InPlaceHandler = (*clusterBroker)(nil)

func (c *clusterBroker) Close() error {
	return errors.Join(c.kafkaBroker.Close(), c.ctrl.Close())
}

// advertisedAddrSetter is the broker's way to learn a port picked at bind time.
type advertisedAddrSetter interface {
	SetAdvertisedAddr(host string, port int32)
}
