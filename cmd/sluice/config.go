package main

// `sluice serve` configuration: Kafka's broker property names, from four places in rising
// precedence — the defaults in serveKeys, a properties file, SLUICE_ environment variables and
// --key=value flags. Each key takes its value from the highest place that sets it.

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicemq/sluice/engine/broker"
	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/engine/replica"
	"github.com/sluicemq/sluice/netio"
)

// Kafka's defaults for the keys whose values do not live in engine/broker or engine/log, and the
// limits parsing enforces.
const (
	defaultListeners              = "PLAINTEXT://127.0.0.1:9092"
	defaultLogDirs                = "./data"
	defaultAdminListener          = "127.0.0.1:9644"
	defaultSocketRequestMaxBytes  = 104857600 // socket.request.max.bytes
	defaultRetentionCheckInterval = int64(log.DefaultRetentionCheckInterval / time.Millisecond)
	defaultRetentionHours         = log.DefaultRetentionMs / msPerHour
	defaultRollHours              = log.DefaultSegmentMs / msPerHour

	msPerHour   = 3600 * 1000
	msPerMinute = 60 * 1000

	// segmentBytesMin is where engine/log clamps log.segment.bytes; smaller values are refused
	// here rather than silently raised.
	segmentBytesMin = 1024
	// indexSizeBytesMin is Kafka's lower bound for log.index.size.max.bytes.
	indexSizeBytesMin = 4
)

// keyDoc describes one key `sluice serve` understands, for validation and the help text.
type keyDoc struct {
	key, def, help string
}

// serveKeys are the keys serve honours, in help order. Each is a file key and a --flag.
var serveKeys = []keyDoc{
	{"node.id", "0", "this broker's id"},
	{"broker.id", "", "ZooKeeper-era name of node.id; must agree with it when both are set"},
	{"listeners", defaultListeners, "where clients connect: PLAINTEXT://host:port (port 0: a free port)"},
	{"advertised.listeners", "= listeners", "the address Metadata hands to clients (port 0: the bound port)"},
	{"listener.security.protocol.map", "", "NAME:PROTOCOL pairs; the served listener must map to PLAINTEXT"},
	{"controller.listener.names", "", "controller listeners, not served to clients (CONTROLLER when controller.quorum.voters is set)"},
	{"controller.quorum.voters", "", "id@host:port,... of the Raft controller quorum: cluster mode (empty: a single node); a node.id not listed joins as a non-voter"},
	{"log.dirs", defaultLogDirs, "data directory; only the first of a comma-separated list is used"},
	{"log.dir", "", "data directory when log.dirs is not set"},
	{"num.partitions", strconv.Itoa(broker.DefaultNumPartitions), "partitions of auto-created topics"},
	{"default.replication.factor", "1", "replication factor of auto-created topics and CreateTopics -1"},
	{"min.insync.replicas", "1", "fewest in-sync replicas for an acks=all write (the topic config overrides it)"},
	{"broker.session.timeout.ms", strconv.Itoa(broker.DefaultBrokerSessionTimeoutMs), "cluster mode: a broker silent this long is fenced"},
	{"broker.heartbeat.interval.ms", strconv.Itoa(broker.DefaultBrokerHeartbeatIntervalMs), "cluster mode: how often a broker heartbeats to the controller"},
	{"controlled.shutdown.enable", "true", "cluster mode: on SIGTERM/SIGINT, move this broker's leaderships away before it stops"},
	{"replica.lag.time.max.ms", strconv.Itoa(replica.DefaultReplicaLagTimeMaxMs), "a follower behind the leader this long leaves the ISR"},
	{"auto.leader.rebalance.enable", "true", "cluster mode: the controller moves leadership back to preferred replicas"},
	{"leader.imbalance.check.interval.seconds", "300", "cluster mode: how often auto.leader.rebalance.enable looks"},
	{"auto.create.topics.enable", "true", "create topics on first Metadata or Produce"},
	{"unclean.leader.election.enable", "false", "cluster mode: elect an out-of-sync replica when no in-sync one is left (may lose acknowledged records)"},
	{"message.max.bytes", strconv.Itoa(broker.DefaultMessageMaxBytes), "largest record batch accepted"},
	{"socket.request.max.bytes", strconv.Itoa(defaultSocketRequestMaxBytes), "largest request frame accepted"},
	{"fetch.path", string(netio.FetchPathCopy), "how a fetch sends record data from segment files: copy (pread into a pooled buffer, then write: the default; over loopback it was the faster on an AMD machine, and end to end within the noise of sendfile on an Intel one, results/broker.md) or sendfile (zero copy from the file to the socket; a short sendfile is finished with pread+write); /metrics counts the bytes each way in sluice_network_bytes_out_total{path} (Sluice's own key)"},
	{"log.retention.hours", strconv.Itoa(defaultRetentionHours), "time retention; log.retention.ms > .minutes > .hours"},
	{"log.retention.minutes", "", "time retention in minutes"},
	{"log.retention.ms", "", "time retention in ms; -1 keeps forever"},
	{"log.retention.bytes", strconv.Itoa(log.DefaultRetentionBytes), "size retention per partition; -1 unlimited"},
	{"log.retention.check.interval.ms", strconv.FormatInt(defaultRetentionCheckInterval, 10), "how often retention runs"},
	{"log.segment.bytes", strconv.Itoa(log.DefaultSegmentBytes), "roll a segment at this size"},
	{"log.roll.hours", strconv.Itoa(defaultRollHours), "roll a segment this old; log.roll.ms wins"},
	{"log.roll.ms", "", "roll a segment this old, in ms"},
	{"log.flush.interval.messages", "", "fsync after this many records (default: never forced)"},
	{"log.flush.interval.ms", "", "fsync data older than this (default: never forced)"},
	{"log.index.interval.bytes", strconv.Itoa(log.DefaultIndexIntervalBytes), "bytes between offset index entries"},
	{"log.index.size.max.bytes", strconv.Itoa(log.DefaultSegmentIndexBytes), "size of each index file"},
	{"log.recovery.verify.all", "false", "at startup CRC-check every segment, not only those after the recovery point (Sluice's own key)"},
	{"log.preallocate.bytes", strconv.Itoa(log.DefaultPreallocateBytes), "reserve each active segment's disk blocks this far ahead of its data; 0 never (Sluice's own key)"},
	{"log.page.cache.tail.bytes", strconv.Itoa(log.DefaultPageCacheTailBytes), "drop written data further than this behind each partition's end from the page cache; 0 leaves it to the kernel (Sluice's own key)"},
	{"log.write.direct.memory.bytes", strconv.Itoa(log.DefaultDirectMemoryBytes), "log.write.mode=direct: memory (and disk) for write-behind rings, 4 MiB each; a partition takes one while it is written to fast (log.write.direct.min.bytes.per.second) and gives it back when it slows down or after 5 s without appends, and one written to while none is free writes buffered (Sluice's own key)"},
	{"log.write.direct.min.bytes.per.second", strconv.Itoa(log.DefaultDirectMinBytesPerSecond), "log.write.mode=direct: a partition takes a write-behind ring once appends to it reach this rate within a second, and gives it back when a second's appends fall below half of it; a slower partition writes buffered, which costs it less (Sluice's own key; 0: every partition written to takes one)"},
	{"log.write.direct.unread.only", "true", "log.write.mode=direct: a partition read in the last three seconds (by a consumer or a follower) writes buffered, so its readers find its newest records in the page cache as in Kafka (O_DIRECT writes leave nothing there); false: written behind however it is read (Sluice's own key)"},
	{"log.write.mode", "direct", "direct (write-behind for partitions written to fast and not read: a batch is copied into a per-partition ring file and written to the segment with O_DIRECT by a writer goroutine, for less CPU per byte; other partitions write buffered; it is answered once in the ring, whose page cache a restart after a killed process writes into the log; its offsets count at once and a fetch of it waits for the write, a few milliseconds; rings are bounded by log.write.direct.memory.bytes; the broker runs with one Go processor more than CPUs unless GOMAXPROCS is set) or buffered (pwrite into the page cache, as Kafka, for every partition) (Sluice's own key)"},
	{"group.initial.rebalance.delay.ms", "3000", "how long an empty group waits for more members before its first rebalance"},
	{"group.min.session.timeout.ms", "6000", "smallest session.timeout.ms a consumer may ask for"},
	{"group.max.session.timeout.ms", "1800000", "largest session.timeout.ms a consumer may ask for"},
	{"group.max.size", "", "most members in one group (default: unbounded)"},
	{"offsets.retention.minutes", "10080", "keep an empty group's committed offsets this long"},
	{"offsets.retention.check.interval.ms", "600000", "how often expired offsets are removed"},
	{"offset.metadata.max.bytes", "4096", "largest metadata string of a committed offset"},
	{"offsets.topic.num.partitions", strconv.Itoa(broker.DefaultOffsetsTopicNumPartitions), "cluster mode: partitions of the internal __consumer_offsets topic (do not change once it exists)"},
	{"offsets.topic.replication.factor", strconv.Itoa(broker.DefaultOffsetsTopicReplicationFactor), "cluster mode: replicas of __consumer_offsets, capped by the live brokers when it is created"},
	{"debug.mutex.profile.fraction", "0", "sample 1 in N mutex contention events for /debug/pprof/mutex (0: off)"},
	{"debug.block.profile.rate", "0", "sample one blocking event per N ns blocked for /debug/pprof/block (0: off)"},
	{"admin.listener", defaultAdminListener, "HTTP host:port for /metrics, /healthz, /debug/pprof/; empty disables"},
	{"log.level", "info", "debug, info, warn or error (Sluice's own logs, not Kafka's)"},
}

// ignoredKeys are Kafka broker keys common in stock server.properties files that mean nothing to
// a single Sluice node. They are accepted and logged, so a Kafka config file loads; any other
// unknown key is an error, because silently dropping a setting the operator relies on is worse.
var ignoredKeys = map[string]string{
	"process.roles":                                    "no KRaft controller quorum",
	"controller.quorum.bootstrap.servers":              "no KRaft controller quorum",
	"inter.broker.listener.name":                       "no inter-broker traffic",
	"zookeeper.connect":                                "no ZooKeeper",
	"zookeeper.connection.timeout.ms":                  "no ZooKeeper",
	"num.network.threads":                              "netio sizes its own event loops",
	"num.io.threads":                                   "no request thread pool",
	"num.recovery.threads.per.data.dir":                "recovery is not thread-pooled",
	"socket.send.buffer.bytes":                         "kernel socket buffer autotuning is kept",
	"socket.receive.buffer.bytes":                      "kernel socket buffer autotuning is kept",
	"transaction.state.log.replication.factor":         "single node",
	"transaction.state.log.min.isr":                    "single node",
	"share.coordinator.state.topic.replication.factor": "single node",
	"share.coordinator.state.topic.min.isr":            "single node",
}

// serveConfig is what `sluice serve` was told, the file and flags merged and checked.
type serveConfig struct {
	// Broker is engine/broker's configuration. AdvertisedPort 0 means "the port the listener
	// bound", known only once serve has bound it.
	Broker broker.Config
	// ListenAddr is the Kafka listener's host:port for netio; port 0 picks a free port.
	ListenAddr               string
	SocketRequestMaxBytes    int
	FetchPath                netio.FetchPath // fetch.path
	RetentionCheckIntervalMs int64
	// AdminAddr is the admin HTTP host:port; empty disables it.
	AdminAddr string
	LogLevel  slog.Level
	// MutexProfileFraction and BlockProfileRate switch on the runtime's mutex and block profiles
	// served at /debug/pprof/mutex and /block (0: off, the runtime's default).
	MutexProfileFraction int
	BlockProfileRate     int

	// Voters is controller.quorum.voters: cluster mode when set (meta.Controller on this node's
	// voter address, Broker.Cluster), a single node when empty. SessionTimeoutMs and
	// HeartbeatIntervalMs are broker.session.timeout.ms and broker.heartbeat.interval.ms.
	Voters []meta.Voter
	// NonVoter: node.id is not among Voters; the node joins the quorum as a non-voter on
	// ControllerAddr, its CONTROLLER listener.
	NonVoter       bool
	ControllerAddr string
	// ControllerBindAddr is the host:port of the controller listener in listeners (CONTROLLER),
	// where the Raft transport binds; empty: bind the voter address. The voter address is what
	// the other voters dial, so with a proxy in front of a node the two differ.
	ControllerBindAddr  string
	SessionTimeoutMs    int64
	HeartbeatIntervalMs int64
	// ControlledShutdown is controlled.shutdown.enable: a stop first asks the controller to move
	// this broker's leaderships (waiting at most broker.session.timeout.ms, what a crash costs).
	ControlledShutdown bool
	// LeaderImbalanceCheckIntervalMs is leader.imbalance.check.interval.seconds in ms, 0 when
	// auto.leader.rebalance.enable is false.
	LeaderImbalanceCheckIntervalMs int64

	// Ignored are the ignoredKeys that were set, for the log.
	Ignored []setting
	// LogDirsUnused are log.dirs entries after the first, which Sluice does not use.
	LogDirsUnused []string
}

// setting is one key = value the operator gave, and where: "server.properties:12",
// "$SLUICE_NODE_ID" or "--node.id".
type setting struct {
	key, value, origin string
}

// configSource is where a key's value came from, in rising precedence: a later source overrides
// an earlier one key by key. The names are what --print-config prints.
type configSource int8

const (
	sourceDefault configSource = iota // serveKeys' default
	sourceFile                        // the properties file (--config or $SLUICE_CONFIG)
	sourceEnv                         // a SLUICE_ environment variable
	sourceFlag                        // a --key=value flag
)

func (s configSource) String() string {
	return [...]string{"DEFAULT", "FILE", "ENV", "FLAG"}[s]
}

// Environment variables serve reads besides one per key (envName).
const (
	envPrefix     = "SLUICE_"
	configFileEnv = "SLUICE_CONFIG" // the properties file when --config is not given
)

// envName is the environment variable of a serve key: SLUICE_, then the key in upper case with
// dots and dashes as underscores (log.dirs: SLUICE_LOG_DIRS). Kafka's own Docker images map
// KAFKA_LOG_DIRS the same way.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// envKeys maps each serve key's environment variable back to the key.
var envKeys = func() map[string]string {
	m := make(map[string]string, len(serveKeys))
	for _, k := range serveKeys {
		m[envName(k.key)] = k.key
	}
	return m
}()

// environNames lists the process's environment variable names.
func environNames() []string {
	env := os.Environ()
	names := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return names
}

// serveEnv is the environment serve reads: lookup for values, names (may be nil) to list the
// variables set, so that a misspelt SLUICE_ variable is reported instead of silently ignored.
type serveEnv struct {
	lookup func(string) (string, bool)
	names  func() []string
}

func (e serveEnv) get(name string) (string, bool) {
	if e.lookup == nil {
		return "", false
	}
	return e.lookup(name)
}

// serveInvocation is one `sluice serve` command line resolved against the environment and the
// properties file.
type serveInvocation struct {
	help        bool         // --help or -h: print the usage, nothing else is checked
	printConfig bool         // --print-config: print the settings and exit
	format      outputFormat // of --print-config

	// The settings by source: file, env and flags each in the order given (within a source a later
	// setting of the same key wins). configPath is the file read, "" if none.
	configPath       string
	file, env, flags []setting
	// warnings are SLUICE_ variables that name no setting.
	warnings []string

	cfg serveConfig
}

// loadServeConfig resolves serve's arguments without an environment: the properties file named
// by --config, then the flags. help reports --help or -h.
func loadServeConfig(args []string) (cfg serveConfig, help bool, err error) {
	inv, err := loadServe(args, serveEnv{})
	return inv.cfg, inv.help, err
}

// loadServe parses serve's arguments, reads the properties file (--config, else $SLUICE_CONFIG)
// and the SLUICE_ variables, and merges them: flags over environment over file over defaults.
func loadServe(args []string, env serveEnv) (serveInvocation, error) {
	inv, err := parseServeArgs(args)
	if err != nil || inv.help {
		return inv, err
	}
	origin := "--config"
	if inv.configPath == "" {
		if p, ok := env.get(configFileEnv); ok && strings.TrimSpace(p) != "" {
			inv.configPath, origin = strings.TrimSpace(p), "$"+configFileEnv
		}
	}
	if inv.configPath != "" {
		data, err := os.ReadFile(inv.configPath)
		if err != nil {
			return inv, fmt.Errorf("%s: %w", origin, err)
		}
		if inv.file, err = parseProperties(inv.configPath, data); err != nil {
			return inv, err
		}
	}
	for _, k := range serveKeys {
		name := envName(k.key)
		if v, ok := env.get(name); ok {
			inv.env = append(inv.env, setting{key: k.key, value: strings.TrimSpace(v), origin: "$" + name})
		}
	}
	if env.names != nil {
		var unknown []string
		for _, name := range env.names() {
			if strings.HasPrefix(name, envPrefix) && envKeys[name] == "" && name != configFileEnv && name != brokersEnv {
				unknown = append(unknown, name)
			}
		}
		slices.Sort(unknown)
		for _, name := range slices.Compact(unknown) {
			inv.warnings = append(inv.warnings, fmt.Sprintf("$%s names no setting and is ignored (sluice serve --help lists them)", name))
		}
	}
	settings := slices.Concat(inv.file, inv.env, inv.flags)
	inv.cfg, err = buildServeConfig(settings)
	return inv, err
}

// parseServeArgs reads `--config PATH`, `--help`, `--print-config [--format text|json]` and
// `--key=value` / `--key value` flags (one dash works too). Every other flag takes a value, so
// `--log.retention.ms -1` is unambiguous.
func parseServeArgs(args []string) (inv serveInvocation, err error) {
	inv.format = formatText
	formatGiven := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
			return serveInvocation{}, fmt.Errorf("unexpected argument %q (settings are --key=value)", arg)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		if name == "help" || name == "h" {
			return serveInvocation{help: true}, nil
		}
		if name == "print-config" {
			inv.printConfig = true
			continue
		}
		key, value, hasValue := strings.Cut(name, "=")
		if !hasValue {
			if i+1 == len(args) {
				return serveInvocation{}, fmt.Errorf("flag --%s needs a value", key)
			}
			i++
			value = args[i]
		}
		switch key {
		case "config":
			if inv.configPath != "" {
				return serveInvocation{}, fmt.Errorf("--config given twice")
			}
			if value == "" {
				return serveInvocation{}, fmt.Errorf("--config needs a file name")
			}
			inv.configPath = value
			continue
		case "print-config":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return serveInvocation{}, fmt.Errorf("--print-config=%s: want true or false", value)
			}
			inv.printConfig = b
			continue
		case "format":
			if err := (formatValue{&inv.format}).Set(value); err != nil {
				return serveInvocation{}, fmt.Errorf("--format %s: %v", value, err)
			}
			formatGiven = true
			continue
		}
		inv.flags = append(inv.flags, setting{key: key, value: strings.TrimSpace(value), origin: "--" + key})
	}
	if formatGiven && !inv.printConfig {
		return serveInvocation{}, fmt.Errorf("--format applies to --print-config only")
	}
	return inv, nil
}

// parseProperties reads Java properties text as Kafka does (java.util.Properties.load): lines
// starting with '#' or '!' are comments; the key ends at the first unescaped '=', ':' or blank; a
// line ending in an odd number of backslashes continues on the next; \t \n \r \f \uXXXX and \c are
// escapes. Unlike Java, trailing blanks of values are dropped (Kafka trims numbers and lists
// anyway; a path with trailing blanks is a typo). name is used in error origins.
func parseProperties(name string, data []byte) ([]setting, error) {
	lines := strings.Split(string(data), "\n")
	var out []setting
	for i := 0; i < len(lines); i++ {
		first := i + 1 // 1-based line number where this logical line starts
		line := strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for endsInEscape(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t\f")
		}
		origin := fmt.Sprintf("%s:%d", name, first)
		rawKey, rawValue := splitProperty(line)
		key, err := unescapeProperty(rawKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		value, err := unescapeProperty(rawValue)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		if key == "" {
			return nil, fmt.Errorf("%s: line has no key: %q", origin, line)
		}
		out = append(out, setting{key: key, value: strings.TrimRight(value, " \t\f"), origin: origin})
	}
	return out, nil
}

// endsInEscape reports whether line ends in an odd number of backslashes (a continuation).
func endsInEscape(line string) bool {
	n := 0
	for n < len(line) && line[len(line)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line (leading blanks removed) into its still-escaped key and
// value: the key ends at the first unescaped '=', ':' or blank; blanks, then one '=' or ':', then
// blanks separate it from the value.
func splitProperty(line string) (key, value string) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++ // the escaped character belongs to the key
			continue
		}
		if c == '=' || c == ':' || c == ' ' || c == '\t' || c == '\f' {
			end = i
			break
		}
	}
	rest := strings.TrimLeft(line[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	return line[:end], rest
}

// unescapeProperty resolves the escapes of java.util.Properties.
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \u escape in %q`, s)
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`malformed \u escape in %q`, s)
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size - 1
		}
	}
	return b.String(), nil
}

// knownKeys indexes serveKeys.
var knownKeys = func() map[string]bool {
	m := make(map[string]bool, len(serveKeys))
	for _, k := range serveKeys {
		m[k.key] = true
	}
	return m
}()

// buildServeConfig merges settings in order (a later one for the same key wins: the file comes
// first, then the environment, then flags) and checks every value.
func buildServeConfig(settings []setting) (serveConfig, error) {
	r := resolver{set: make(map[string]setting, len(settings))}
	var cfg serveConfig
	ignored := map[string]int{} // key → index in cfg.Ignored
	for _, s := range settings {
		switch {
		case knownKeys[s.key]:
			r.set[s.key] = s
		case ignoredKeys[s.key] != "":
			if i, ok := ignored[s.key]; ok {
				cfg.Ignored[i] = s
				continue
			}
			ignored[s.key] = len(cfg.Ignored)
			cfg.Ignored = append(cfg.Ignored, s)
		default:
			return serveConfig{}, fmt.Errorf("%s: unknown key %q (sluice serve --help lists the keys)", s.origin, s.key)
		}
	}

	b := broker.DefaultConfig()
	b.NodeID = int32(r.int("node.id", 0, 0, math.MaxInt32))
	if r.has("broker.id") {
		id := int32(r.int("broker.id", 0, 0, math.MaxInt32))
		if r.has("node.id") && id != b.NodeID {
			r.fail(r.set["broker.id"], "differs from node.id %d", b.NodeID)
		}
		b.NodeID = id
	}
	b.NumPartitions = int32(r.int("num.partitions", broker.DefaultNumPartitions, 1, math.MaxInt32))
	b.DefaultReplicationFactor = int16(r.int("default.replication.factor", 1, 1, math.MaxInt16))
	b.AutoCreateTopics = r.bool("auto.create.topics.enable", true)
	b.UncleanLeaderElection = r.bool("unclean.leader.election.enable", false)
	b.MessageMaxBytes = int32(r.int("message.max.bytes", broker.DefaultMessageMaxBytes, 0, math.MaxInt32))
	cfg.SocketRequestMaxBytes = int(r.int("socket.request.max.bytes", defaultSocketRequestMaxBytes, 1, math.MaxInt32))
	switch path := netio.FetchPath(r.string("fetch.path", string(netio.FetchPathCopy))); path {
	case netio.FetchPathCopy, netio.FetchPathSendfile:
		cfg.FetchPath = path
	default:
		r.fail(r.set["fetch.path"], "want copy or sendfile")
	}

	dirsKey := "log.dirs"
	if !r.has(dirsKey) && r.has("log.dir") {
		dirsKey = "log.dir"
	}
	dirs := r.list(dirsKey, defaultLogDirs)
	if len(dirs) == 0 {
		r.fail(r.set[dirsKey], "names no directory")
	} else {
		b.LogDir = dirs[0]
		if len(dirs) > 1 {
			cfg.LogDirsUnused = dirs[1:]
		}
	}

	l := &b.LogDefaults
	// Kafka's precedence: log.retention.ms, then .minutes, then .hours. Every one given is checked.
	retention := map[string]int64{
		"log.retention.hours":   r.int("log.retention.hours", defaultRetentionHours, math.MinInt32, math.MaxInt32) * msPerHour,
		"log.retention.minutes": r.int("log.retention.minutes", 0, math.MinInt32, math.MaxInt32) * msPerMinute,
		"log.retention.ms":      r.int("log.retention.ms", 0, math.MinInt64, math.MaxInt64),
	}
	retentionKey := "log.retention.hours"
	for _, k := range []string{"log.retention.ms", "log.retention.minutes"} {
		if r.has(k) {
			retentionKey = k
			break
		}
	}
	switch l.RetentionMs = retention[retentionKey]; {
	case l.RetentionMs < 0: // Kafka reads every negative retention as unlimited
		l.RetentionMs = -1
	case l.RetentionMs == 0:
		r.fail(r.set[retentionKey], "retention must be -1 (unlimited) or at least 1 ms")
	}
	if l.RetentionBytes = r.int("log.retention.bytes", log.DefaultRetentionBytes, math.MinInt64, math.MaxInt64); l.RetentionBytes < 0 {
		l.RetentionBytes = -1
	}
	cfg.RetentionCheckIntervalMs = r.int("log.retention.check.interval.ms", defaultRetentionCheckInterval, 1, math.MaxInt64)
	l.SegmentBytes = r.int("log.segment.bytes", log.DefaultSegmentBytes, segmentBytesMin, math.MaxInt32)
	l.SegmentMs = r.int("log.roll.hours", defaultRollHours, 1, math.MaxInt32) * msPerHour
	if ms := r.int("log.roll.ms", 0, 1, math.MaxInt64); r.has("log.roll.ms") { // Kafka: log.roll.ms wins
		l.SegmentMs = ms
	}
	l.FlushMessages = r.int("log.flush.interval.messages", log.NoForcedFlush, 1, math.MaxInt64)
	l.FlushMs = r.int("log.flush.interval.ms", log.NoForcedFlush, 0, math.MaxInt64)
	// Kafka's 0 indexes every batch; engine/log reads 0 as "unset", and 1 has the same effect.
	l.IndexIntervalBytes = max(1, r.int("log.index.interval.bytes", log.DefaultIndexIntervalBytes, 0, math.MaxInt32))
	l.SegmentIndexBytes = r.int("log.index.size.max.bytes", log.DefaultSegmentIndexBytes, indexSizeBytesMin, math.MaxInt32)
	l.RecoveryVerifyAll = r.bool("log.recovery.verify.all", false)
	l.PreallocateBytes = r.int("log.preallocate.bytes", log.DefaultPreallocateBytes, 0, math.MaxInt32)
	l.PageCacheTailBytes = r.int("log.page.cache.tail.bytes", log.DefaultPageCacheTailBytes, 0, math.MaxInt64)
	if mode, err := log.ParseWriteMode(r.string("log.write.mode", "direct")); err != nil {
		r.fail(r.set["log.write.mode"], "want buffered or direct")
	} else {
		l.WriteMode = mode
	}
	l.RingBudget = log.NewRingBudget(r.int("log.write.direct.memory.bytes", log.DefaultDirectMemoryBytes, log.RingBytes, math.MaxInt64),
		r.int("log.write.direct.min.bytes.per.second", log.DefaultDirectMinBytesPerSecond, 0, log.MaxDirectMinBytesPerSecond),
		r.bool("log.write.direct.unread.only", true))

	g := &b.Groups
	*g = group.DefaultConfig()
	g.GroupInitialRebalanceDelayMs = int32(r.int("group.initial.rebalance.delay.ms", int64(g.GroupInitialRebalanceDelayMs), 0, math.MaxInt32))
	g.GroupMinSessionTimeoutMs = int32(r.int("group.min.session.timeout.ms", int64(g.GroupMinSessionTimeoutMs), 1, math.MaxInt32))
	g.GroupMaxSessionTimeoutMs = int32(r.int("group.max.session.timeout.ms", int64(g.GroupMaxSessionTimeoutMs), 1, math.MaxInt32))
	g.GroupMaxSize = int32(r.int("group.max.size", int64(g.GroupMaxSize), 1, math.MaxInt32))
	g.OffsetsRetentionMinutes = int32(r.int("offsets.retention.minutes", int64(g.OffsetsRetentionMinutes), 1, math.MaxInt32))
	g.OffsetsRetentionCheckIntervalMs = r.int("offsets.retention.check.interval.ms", g.OffsetsRetentionCheckIntervalMs, 1, math.MaxInt64)
	g.OffsetMetadataMaxBytes = int32(r.int("offset.metadata.max.bytes", int64(g.OffsetMetadataMaxBytes), 0, math.MaxInt32))
	cfg.MutexProfileFraction = int(r.int("debug.mutex.profile.fraction", 0, 0, math.MaxInt32))
	cfg.BlockProfileRate = int(r.int("debug.block.profile.rate", 0, 0, math.MaxInt32))
	if g.GroupMinSessionTimeoutMs > g.GroupMaxSessionTimeoutMs {
		r.fail(r.set["group.min.session.timeout.ms"], "above group.max.session.timeout.ms")
	}

	if r.has("controller.quorum.voters") {
		s := r.set["controller.quorum.voters"]
		voters, err := meta.ParseQuorumVoters(s.value)
		if err != nil {
			r.fail(s, "%v", err)
		}
		cfg.Voters = voters
		cfg.NonVoter = len(voters) > 0
		for _, v := range voters {
			cfg.NonVoter = cfg.NonVoter && v.ID != b.NodeID
		}
	}
	b.Cluster = len(cfg.Voters) > 0
	// Left zero when not given: the broker's own default (Kafka's), as before these were keys.
	if r.has("offsets.topic.num.partitions") {
		b.OffsetsTopicNumPartitions = int32(r.int("offsets.topic.num.partitions", broker.DefaultOffsetsTopicNumPartitions, 1, math.MaxInt32))
	}
	if r.has("offsets.topic.replication.factor") {
		b.OffsetsTopicReplicationFactor = int16(r.int("offsets.topic.replication.factor", broker.DefaultOffsetsTopicReplicationFactor, 1, math.MaxInt16))
	}
	if r.has("min.insync.replicas") {
		b.MinInsyncReplicas = int32(r.int("min.insync.replicas", 1, 1, math.MaxInt32))
	}
	if r.has("replica.lag.time.max.ms") {
		b.ReplicaLagTimeMaxMs = r.int("replica.lag.time.max.ms", replica.DefaultReplicaLagTimeMaxMs, 1, math.MaxInt64)
	}
	cfg.SessionTimeoutMs = r.int("broker.session.timeout.ms", broker.DefaultBrokerSessionTimeoutMs, 1, math.MaxInt32)
	cfg.HeartbeatIntervalMs = r.int("broker.heartbeat.interval.ms", broker.DefaultBrokerHeartbeatIntervalMs, 1, math.MaxInt32)
	cfg.ControlledShutdown = r.bool("controlled.shutdown.enable", true)
	if cfg.HeartbeatIntervalMs >= cfg.SessionTimeoutMs && r.has("broker.heartbeat.interval.ms") {
		r.fail(r.set["broker.heartbeat.interval.ms"], "must be below broker.session.timeout.ms %d", cfg.SessionTimeoutMs)
	}
	imbalanceS := r.int("leader.imbalance.check.interval.seconds", 300, 1, math.MaxInt32)
	if r.bool("auto.leader.rebalance.enable", true) {
		cfg.LeaderImbalanceCheckIntervalMs = imbalanceS * 1000
	}

	cfg.ListenAddr, b.AdvertisedHost, b.AdvertisedPort, cfg.ControllerBindAddr = r.listeners(len(cfg.Voters) > 0)
	if cfg.NonVoter && r.err == nil {
		// A broker outside the quorum joins it as a non-voter: its own CONTROLLER listener is
		// where the Raft leader sends it the metadata log.
		if cfg.ControllerAddr = cfg.ControllerBindAddr; cfg.ControllerAddr == "" {
			r.fail(r.set["listeners"], "node.id %d is not in controller.quorum.voters, so it joins the quorum as a non-voter: it needs a CONTROLLER://host:port listener of its own", b.NodeID)
		}
	}
	if b.Cluster && b.AdvertisedPort == 0 && r.err == nil {
		r.fail(r.set["listeners"], "cluster mode needs a fixed port: other brokers and clients reach this one by it")
	}

	cfg.AdminAddr = r.string("admin.listener", defaultAdminListener)
	if cfg.AdminAddr != "" {
		if _, port, err := net.SplitHostPort(cfg.AdminAddr); err != nil {
			r.fail(r.set["admin.listener"], "want host:port or empty")
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			r.fail(r.set["admin.listener"], "port is not a number in 0..65535")
		}
	}
	if r.has("log.level") {
		if err := cfg.LogLevel.UnmarshalText([]byte(r.string("log.level", ""))); err != nil {
			r.fail(r.set["log.level"], "want debug, info, warn or error")
		}
	}

	if r.err != nil {
		return serveConfig{}, r.err
	}
	// Every key the operator set, whichever source won: DescribeConfigs reports them as
	// STATIC_BROKER_CONFIG (Kafka's source for server.properties), the rest as DEFAULT_CONFIG.
	b.StaticConfigs = make(map[string]string, len(r.set))
	for k, s := range r.set {
		b.StaticConfigs[k] = s.value
	}
	cfg.Broker = b
	return cfg, nil
}

// resolver reads typed values out of the merged settings. The first bad value sticks in err and
// later reads go on with defaults, so buildServeConfig checks once at the end.
type resolver struct {
	set map[string]setting
	err error
}

func (r *resolver) has(key string) bool { _, ok := r.set[key]; return ok }

// fail records an invalid value of s, naming where it came from, the key and the value.
func (r *resolver) fail(s setting, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: invalid value %q for %s: %s", s.origin, s.value, s.key, fmt.Sprintf(format, args...))
	}
}

func (r *resolver) string(key, def string) string {
	if s, ok := r.set[key]; ok {
		return s.value
	}
	return def
}

// int reads an integer in [lo, hi] (Kafka's INT keys are int32, LONG keys int64).
func (r *resolver) int(key string, def, lo, hi int64) int64 {
	s, ok := r.set[key]
	if !ok {
		return def
	}
	v, err := strconv.ParseInt(s.value, 10, 64)
	switch {
	case err != nil:
		r.fail(s, "want an integer")
	case v < lo:
		r.fail(s, "must be at least %d", lo)
	case v > hi:
		r.fail(s, "must be at most %d", hi)
	default:
		return v
	}
	return def
}

// bool reads true or false in any case, as Kafka does.
func (r *resolver) bool(key string, def bool) bool {
	s, ok := r.set[key]
	switch {
	case !ok:
		return def
	case strings.EqualFold(s.value, "true"):
		return true
	case strings.EqualFold(s.value, "false"):
		return false
	}
	r.fail(s, "want true or false")
	return def
}

// list reads a comma-separated list, blanks trimmed and empty entries dropped.
func (r *resolver) list(key, def string) []string {
	var out []string
	for _, e := range strings.Split(r.string(key, def), ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// listener is one entry of listeners or advertised.listeners: NAME://host:port.
type listener struct {
	name, host string
	port       int32
}

// listeners picks the one PLAINTEXT listener Sluice serves from listeners, skipping those named
// in controller.listener.names, and its advertised address (advertised.listeners, else the same).
// An empty advertised host means this machine's host name, as in Kafka.
//
// In cluster mode the listener named CONTROLLER is a controller listener unless
// controller.listener.names says otherwise; ctrlBindAddr is the first controller listener in
// listeners (the Raft transport binds it; empty: it binds the voter address).
func (r *resolver) listeners(cluster bool) (bindAddr, advHost string, advPort int32, ctrlBindAddr string) {
	protocols := map[string]string{}
	if r.has("listener.security.protocol.map") {
		for _, pair := range r.list("listener.security.protocol.map", "") {
			name, proto, ok := strings.Cut(pair, ":")
			if !ok {
				r.fail(r.set["listener.security.protocol.map"], "want NAME:PROTOCOL pairs")
				return "", "", 0, ""
			}
			protocols[strings.ToUpper(strings.TrimSpace(name))] = strings.ToUpper(strings.TrimSpace(proto))
		}
	}
	controllers := map[string]bool{}
	def := ""
	if cluster {
		def = "CONTROLLER"
	}
	for _, name := range r.list("controller.listener.names", def) {
		controllers[strings.ToUpper(name)] = true
	}

	served, ok := r.listener("listeners", defaultListeners, "", controllers)
	if !ok {
		return "", "", 0, ""
	}
	proto := served.name
	if p, ok := protocols[served.name]; ok {
		proto = p
	}
	if proto != "PLAINTEXT" {
		r.fail(r.set["listeners"], "listener %s uses %s; Sluice serves PLAINTEXT only", served.name, proto)
		return "", "", 0, ""
	}
	bindAddr = net.JoinHostPort(served.host, strconv.Itoa(int(served.port)))

	adv := served
	if r.has("advertised.listeners") {
		if adv, ok = r.listener("advertised.listeners", "", served.name, controllers); !ok {
			return "", "", 0, ""
		}
	}
	switch adv.host {
	case "0.0.0.0", "::":
		key := "listeners"
		if r.has("advertised.listeners") {
			key = "advertised.listeners"
		}
		r.fail(r.set[key], "cannot advertise the non-routable address %s; set advertised.listeners", adv.host)
		return "", "", 0, ""
	case "":
		if h, err := os.Hostname(); err == nil {
			adv.host = h
		} else {
			adv.host = "127.0.0.1"
		}
	}
	if cluster {
		ctrlBindAddr = r.controllerListener(controllers)
	}
	return bindAddr, adv.host, adv.port, ctrlBindAddr
}

// controllerListener returns host:port of the first entry of listeners named in controllers, or
// "" when there is none (listeners has already been parsed, so entries are well formed).
func (r *resolver) controllerListener(controllers map[string]bool) string {
	for _, e := range r.list("listeners", defaultListeners) {
		name, addr, _ := strings.Cut(e, "://")
		if controllers[strings.ToUpper(name)] {
			return addr
		}
	}
	return ""
}

// listener parses key as a list of NAME://host:port and returns its one entry not named in skip:
// the only one, or the one called want when want is set.
func (r *resolver) listener(key, def, want string, skip map[string]bool) (listener, bool) {
	s := r.set[key]
	var found []listener
	for _, e := range r.list(key, def) {
		name, addr, ok := strings.Cut(e, "://")
		host, port, err := net.SplitHostPort(addr)
		if !ok || name == "" || err != nil {
			r.fail(s, "want NAME://host:port, got %q", e)
			return listener{}, false
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			r.fail(s, "port of %q is not a number in 0..65535", e)
			return listener{}, false
		}
		l := listener{name: strings.ToUpper(name), host: host, port: int32(p)}
		if !skip[l.name] && (want == "" || l.name == want) {
			found = append(found, l)
		}
	}
	switch {
	case len(found) == 0 && want != "":
		r.fail(s, "no listener named %s", want)
	case len(found) == 0:
		r.fail(s, "no listener (controller listeners are skipped)")
	case len(found) > 1:
		r.fail(s, "Sluice serves one listener; list controller listeners in controller.listener.names")
	default:
		return found[0], true
	}
	return listener{}, false
}
