package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/engine/broker"
	"github.com/sluicemq/sluice/engine/group"
	"github.com/sluicemq/sluice/engine/log"
	"github.com/sluicemq/sluice/engine/meta"
	"github.com/sluicemq/sluice/netio"
)

func TestParseProperties(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []setting // origins are "f:LINE"
		wantErr    string
	}{
		{name: "empty", text: ""},
		{
			name: "comments and blank lines",
			text: "# a comment\n! another\n\n   \n  # indented comment \\\nnode.id=1\n",
			want: []setting{{"node.id", "1", "f:6"}},
		},
		{
			name: "separators",
			text: "a=1\nb = 2\nc: 3\nd 4\ne\t=\t5\nf:=6\ng\n",
			want: []setting{
				{"a", "1", "f:1"}, {"b", "2", "f:2"}, {"c", "3", "f:3"}, {"d", "4", "f:4"},
				{"e", "5", "f:5"}, {"f", "=6", "f:6"}, {"g", "", "f:7"},
			},
		},
		{
			name: "CRLF and trailing blanks",
			text: "log.dirs = /var/sluice  \r\nnum.partitions=3\r\n",
			want: []setting{{"log.dirs", "/var/sluice", "f:1"}, {"num.partitions", "3", "f:2"}},
		},
		{
			name: "value keeps separators after the first",
			text: "listeners=PLAINTEXT://127.0.0.1:9092\nmap = A:B,C:D\n",
			want: []setting{{"listeners", "PLAINTEXT://127.0.0.1:9092", "f:1"}, {"map", "A:B,C:D", "f:2"}},
		},
		{
			name: "continuation lines",
			text: "listeners=PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\nnext=1\n",
			want: []setting{{"listeners", "PLAINTEXT://:9092,CONTROLLER://:9093", "f:1"}, {"next", "1", "f:3"}},
		},
		{
			name: "escaped backslash does not continue",
			text: "dir=C:\\\\\nnext=1\n",
			want: []setting{{"dir", `C:\`, "f:1"}, {"next", "1", "f:2"}},
		},
		{
			name: "escapes",
			text: "a\\=b=x\\ty\nk=\\u0041\\:\\#\n",
			want: []setting{{"a=b", "x\ty", "f:1"}, {"k", "A:#", "f:2"}},
		},
		{name: "bad unicode escape", text: "k=\\u00zz\n", wantErr: `f:1: malformed \u escape`},
		{name: "no key", text: "=value\n", wantErr: "f:1: line has no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProperties("f", []byte(tc.text))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// stockKafkaProperties has the keys of the server.properties Kafka ships for a combined KRaft
// node; it must load, with the controller listener skipped and the rest ignored or applied.
const stockKafkaProperties = `
############################# Server Basics #############################
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093

############################# Socket Server Settings #############################
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600

############################# Log Basics #############################
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000
log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`

func TestServeConfig(t *testing.T) {
	hostname, _ := os.Hostname()
	def := broker.DefaultConfig()
	def.LogDir = "./data"
	def.Groups = group.DefaultConfig()      // serve always spells the group settings out
	def.StaticConfigs = map[string]string{} // serve tracks provenance: nothing set

	for _, tc := range []struct {
		name    string
		file    string   // written to a temp file and passed as --config when not empty
		args    []string // flags
		check   func(t *testing.T, c serveConfig)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c serveConfig) {
				if !reflect.DeepEqual(c.Broker, def) {
					t.Errorf("broker config\ngot  %+v\nwant %+v", c.Broker, def)
				}
				want := serveConfig{
					Broker: def, ListenAddr: "127.0.0.1:9092", SocketRequestMaxBytes: 104857600, FetchPath: netio.FetchPathCopy,
					RetentionCheckIntervalMs: 300000, AdminAddr: "127.0.0.1:9644", LogLevel: slog.LevelInfo,
					SessionTimeoutMs: 9000, HeartbeatIntervalMs: 2000, ControlledShutdown: true,
					LeaderImbalanceCheckIntervalMs: 300000,
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
			},
		},
		{
			name: "file with comments, blanks and every separator",
			file: "# broker\n\nnode.id = 7\nnum.partitions: 4\nauto.create.topics.enable FALSE\n" +
				"  message.max.bytes=2000000\nlog.dirs = /var/lib/sluice\nlog.level=debug\n",
			check: func(t *testing.T, c serveConfig) {
				b := c.Broker
				if b.NodeID != 7 || b.NumPartitions != 4 || b.AutoCreateTopics || b.MessageMaxBytes != 2000000 ||
					b.LogDir != "/var/lib/sluice" || c.LogLevel != slog.LevelDebug {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "flags override the file, in both flag forms",
			file: "node.id=1\nnum.partitions=2\nadmin.listener=127.0.0.1:1\n",
			args: []string{"--node.id=5", "-num.partitions", "9", "--admin.listener="},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.NodeID != 5 || c.Broker.NumPartitions != 9 || c.AdminAddr != "" {
					t.Errorf("got node %d partitions %d admin %q", c.Broker.NodeID, c.Broker.NumPartitions, c.AdminAddr)
				}
			},
		},
		{
			name: "cluster mode: KRaft keys",
			args: []string{"--node.id=2", "--listeners=PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:19093",
				"--controller.quorum.voters=1@127.0.0.1:19092,2@127.0.0.1:19093,3@127.0.0.1:19094",
				"--min.insync.replicas=2", "--default.replication.factor=3", "--broker.session.timeout.ms=3000",
				"--broker.heartbeat.interval.ms=500", "--replica.lag.time.max.ms=5000"},
			check: func(t *testing.T, c serveConfig) {
				b := c.Broker
				if !b.Cluster || len(c.Voters) != 3 || c.Voters[1] != (meta.Voter{ID: 2, Host: "127.0.0.1", Port: 19093}) ||
					c.ListenAddr != "127.0.0.1:9093" || b.AdvertisedPort != 9093 || b.MinInsyncReplicas != 2 ||
					b.DefaultReplicationFactor != 3 || c.SessionTimeoutMs != 3000 || c.HeartbeatIntervalMs != 500 ||
					b.ReplicaLagTimeMaxMs != 5000 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name:    "cluster mode: a non-voter needs a controller listener",
			args:    []string{"--node.id=4", "--controller.quorum.voters=1@127.0.0.1:19092", "--listeners=PLAINTEXT://127.0.0.1:9095"},
			wantErr: "joins the quorum as a non-voter: it needs a CONTROLLER://host:port listener",
		},
		{
			name: "cluster mode: a node outside the quorum joins as a non-voter",
			args: []string{"--node.id=4", "--controller.quorum.voters=1@127.0.0.1:19092",
				"--listeners=PLAINTEXT://127.0.0.1:9095,CONTROLLER://127.0.0.1:19095"},
			check: func(t *testing.T, c serveConfig) {
				if !c.NonVoter || c.ControllerAddr != "127.0.0.1:19095" || c.ListenAddr != "127.0.0.1:9095" || !c.Broker.Cluster {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			// A proxy in front of every node: clients and the other voters dial the advertised and
			// voter addresses; this node binds the listeners.
			name: "cluster mode: behind a proxy",
			args: []string{"--node.id=1", "--listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:19092",
				"--advertised.listeners=PLAINTEXT://127.0.0.1:29092",
				"--controller.quorum.voters=1@127.0.0.1:39092,2@127.0.0.1:39093,3@127.0.0.1:39094"},
			check: func(t *testing.T, c serveConfig) {
				if c.ListenAddr != "127.0.0.1:9092" || c.Broker.AdvertisedPort != 29092 ||
					c.ControllerBindAddr != "127.0.0.1:19092" || c.Voters[0].Addr() != "127.0.0.1:39092" {
					t.Errorf("got listen %s advertised %d controller bind %q voter %s",
						c.ListenAddr, c.Broker.AdvertisedPort, c.ControllerBindAddr, c.Voters[0].Addr())
				}
			},
		},
		{
			name: "cluster mode: leader rebalance interval, or off",
			args: []string{"--leader.imbalance.check.interval.seconds=5"},
			check: func(t *testing.T, c serveConfig) {
				if c.LeaderImbalanceCheckIntervalMs != 5000 {
					t.Errorf("leader.imbalance.check.interval.seconds=5: %d ms", c.LeaderImbalanceCheckIntervalMs)
				}
			},
		},
		{
			name: "unclean.leader.election.enable reaches the broker (and the controller's policy)",
			args: []string{"--unclean.leader.election.enable=true"},
			check: func(t *testing.T, c serveConfig) {
				if !c.Broker.UncleanLeaderElection {
					t.Error("unclean.leader.election.enable=true not applied")
				}
			},
		},
		{
			name: "cluster mode: auto.leader.rebalance.enable=false",
			args: []string{"--auto.leader.rebalance.enable=false", "--leader.imbalance.check.interval.seconds=5"},
			check: func(t *testing.T, c serveConfig) {
				if c.LeaderImbalanceCheckIntervalMs != 0 {
					t.Errorf("auto.leader.rebalance.enable=false: interval %d ms, want 0 (off)", c.LeaderImbalanceCheckIntervalMs)
				}
			},
		},
		{
			name:    "cluster mode: heartbeat below the session timeout",
			args:    []string{"--broker.session.timeout.ms=1000", "--broker.heartbeat.interval.ms=1000"},
			wantErr: "must be below broker.session.timeout.ms",
		},
		{
			name: "later flag wins",
			args: []string{"--node.id=1", "--node.id=2"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.NodeID != 2 {
					t.Errorf("node.id %d", c.Broker.NodeID)
				}
			},
		},
		{
			name: "log defaults",
			args: []string{
				"--log.retention.bytes=1000000", "--log.segment.bytes=65536", "--log.roll.hours=2",
				"--log.flush.interval.messages=100", "--log.flush.interval.ms=50", "--log.index.interval.bytes=0",
				"--log.index.size.max.bytes=4096", "--log.retention.check.interval.ms=1000",
				"--socket.request.max.bytes=1000", "--default.replication.factor=3",
			},
			check: func(t *testing.T, c serveConfig) {
				want := log.DefaultConfig()
				want.WriteMode = log.WriteDirect // the broker's default, not engine/log's
				want.RetentionBytes, want.SegmentBytes, want.SegmentMs = 1000000, 65536, 2*3600*1000
				want.FlushMessages, want.FlushMs, want.IndexIntervalBytes, want.SegmentIndexBytes = 100, 50, 1, 4096
				if !reflect.DeepEqual(c.Broker.LogDefaults, want) {
					t.Errorf("log defaults\ngot  %+v\nwant %+v", c.Broker.LogDefaults, want)
				}
				if c.RetentionCheckIntervalMs != 1000 || c.SocketRequestMaxBytes != 1000 || c.Broker.DefaultReplicationFactor != 3 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "retention: ms beats minutes beats hours",
			file: "log.retention.hours=1\nlog.retention.minutes=2\n",
			args: []string{"--log.retention.ms=3"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.LogDefaults.RetentionMs != 3 {
					t.Errorf("RetentionMs %d, want 3", c.Broker.LogDefaults.RetentionMs)
				}
			},
		},
		{
			name: "retention: minutes beat hours",
			args: []string{"--log.retention.minutes=2", "--log.retention.hours=1"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.LogDefaults.RetentionMs != 2*60*1000 {
					t.Errorf("RetentionMs %d", c.Broker.LogDefaults.RetentionMs)
				}
			},
		},
		{
			name: "retention: hours",
			args: []string{"--log.retention.hours=5"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.LogDefaults.RetentionMs != 5*3600*1000 {
					t.Errorf("RetentionMs %d", c.Broker.LogDefaults.RetentionMs)
				}
			},
		},
		{
			name: "retention: any negative is unlimited",
			args: []string{"--log.retention.hours=-5", "--log.retention.bytes=-7"},
			check: func(t *testing.T, c serveConfig) {
				if l := c.Broker.LogDefaults; l.RetentionMs != -1 || l.RetentionBytes != -1 {
					t.Errorf("RetentionMs %d RetentionBytes %d, want -1 -1", l.RetentionMs, l.RetentionBytes)
				}
			},
		},
		{
			name: "roll: ms beats hours",
			args: []string{"--log.roll.hours=1", "--log.roll.ms=1234"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.LogDefaults.SegmentMs != 1234 {
					t.Errorf("SegmentMs %d", c.Broker.LogDefaults.SegmentMs)
				}
			},
		},
		{
			name: "log.dirs: first directory used, rest noted",
			args: []string{"--log.dirs= /a , /b,,/c"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.LogDir != "/a" || !reflect.DeepEqual(c.LogDirsUnused, []string{"/b", "/c"}) {
					t.Errorf("LogDir %q unused %q", c.Broker.LogDir, c.LogDirsUnused)
				}
			},
		},
		{
			name: "log.dir when log.dirs is unset",
			file: "log.dir=/x\n",
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.LogDir != "/x" {
					t.Errorf("LogDir %q", c.Broker.LogDir)
				}
			},
		},
		{
			name: "broker.id is node.id",
			args: []string{"--broker.id=4"},
			check: func(t *testing.T, c serveConfig) {
				if c.Broker.NodeID != 4 {
					t.Errorf("NodeID %d", c.Broker.NodeID)
				}
			},
		},
		{
			name: "listeners: advertised defaults to listeners",
			args: []string{"--listeners=PLAINTEXT://10.0.0.5:19092"},
			check: func(t *testing.T, c serveConfig) {
				if c.ListenAddr != "10.0.0.5:19092" || c.Broker.AdvertisedHost != "10.0.0.5" || c.Broker.AdvertisedPort != 19092 {
					t.Errorf("listen %q advertised %s:%d", c.ListenAddr, c.Broker.AdvertisedHost, c.Broker.AdvertisedPort)
				}
			},
		},
		{
			name: "listeners: port 0 is resolved at serve time",
			args: []string{"--listeners=PLAINTEXT://127.0.0.1:0"},
			check: func(t *testing.T, c serveConfig) {
				if c.ListenAddr != "127.0.0.1:0" || c.Broker.AdvertisedPort != 0 {
					t.Errorf("listen %q advertised port %d", c.ListenAddr, c.Broker.AdvertisedPort)
				}
			},
		},
		{
			name: "listeners: IPv6 and explicit advertised",
			args: []string{"--listeners=plaintext://[::1]:9092", "--advertised.listeners=PLAINTEXT://broker.example:9999"},
			check: func(t *testing.T, c serveConfig) {
				if c.ListenAddr != "[::1]:9092" || c.Broker.AdvertisedHost != "broker.example" || c.Broker.AdvertisedPort != 9999 {
					t.Errorf("listen %q advertised %s:%d", c.ListenAddr, c.Broker.AdvertisedHost, c.Broker.AdvertisedPort)
				}
			},
		},
		{
			name: "listeners: custom name mapped to PLAINTEXT",
			args: []string{"--listeners=CLIENT://127.0.0.1:9092", "--listener.security.protocol.map=CLIENT:PLAINTEXT"},
			check: func(t *testing.T, c serveConfig) {
				if c.ListenAddr != "127.0.0.1:9092" {
					t.Errorf("listen %q", c.ListenAddr)
				}
			},
		},
		{
			name: "stock Kafka server.properties loads",
			file: stockKafkaProperties,
			check: func(t *testing.T, c serveConfig) {
				if c.ListenAddr != ":9092" || c.Broker.AdvertisedHost != "localhost" || c.Broker.AdvertisedPort != 9092 ||
					c.Broker.NodeID != 1 || c.Broker.LogDir != "/tmp/kraft-combined-logs" {
					t.Errorf("got %+v", c)
				}
				var ignored []string
				for _, s := range c.Ignored {
					ignored = append(ignored, s.key)
				}
				if len(ignored) != 12 || ignored[0] != "process.roles" {
					t.Errorf("ignored %q", ignored)
				}
				if c.Broker.OffsetsTopicReplicationFactor != 1 { // a key since __consumer_offsets exists
					t.Errorf("offsets.topic.replication.factor=1 read as %d", c.Broker.OffsetsTopicReplicationFactor)
				}
			},
		},
		{
			name: "empty listener host advertises the host name",
			args: []string{"--listeners=PLAINTEXT://:9092"},
			check: func(t *testing.T, c serveConfig) {
				if hostname != "" && c.Broker.AdvertisedHost != hostname {
					t.Errorf("advertised host %q, want %q", c.Broker.AdvertisedHost, hostname)
				}
			},
		},

		// Errors name where the value came from, the key and the value.
		{name: "unknown key in file", file: "node.id=1\nlog.cleaner.threads=2\n", wantErr: `:2: unknown key "log.cleaner.threads"`},
		{name: "unknown flag", args: []string{"--nodeid=1"}, wantErr: `--nodeid: unknown key "nodeid"`},
		{name: "not an integer", file: "num.partitions = three\n", wantErr: `:1: invalid value "three" for num.partitions: want an integer`},
		{name: "below minimum", args: []string{"--num.partitions=0"}, wantErr: `--num.partitions: invalid value "0" for num.partitions: must be at least 1`},
		{name: "int32 overflow", args: []string{"--message.max.bytes=3000000000"}, wantErr: `invalid value "3000000000" for message.max.bytes: must be at most 2147483647`},
		{name: "int16 overflow", args: []string{"--default.replication.factor=40000"}, wantErr: `for default.replication.factor: must be at most 32767`},
		{name: "segment too small", args: []string{"--log.segment.bytes=100"}, wantErr: `invalid value "100" for log.segment.bytes: must be at least 1024`},
		{name: "bad bool", args: []string{"--auto.create.topics.enable=yes"}, wantErr: `invalid value "yes" for auto.create.topics.enable: want true or false`},
		{name: "zero retention", args: []string{"--log.retention.ms=0"}, wantErr: `invalid value "0" for log.retention.ms: retention must be -1`},
		{name: "shadowed key still checked", args: []string{"--log.retention.ms=5", "--log.retention.hours=x"}, wantErr: `invalid value "x" for log.retention.hours`},
		{name: "broker.id disagrees", args: []string{"--node.id=1", "--broker.id=2"}, wantErr: `invalid value "2" for broker.id: differs from node.id 1`},
		{name: "listener without scheme", args: []string{"--listeners=127.0.0.1:9092"}, wantErr: `invalid value "127.0.0.1:9092" for listeners: want NAME://host:port`},
		{name: "listener bad port", args: []string{"--listeners=PLAINTEXT://h:99999"}, wantErr: `for listeners: port of "PLAINTEXT://h:99999" is not a number`},
		{name: "listener not PLAINTEXT", args: []string{"--listeners=SSL://h:9093"}, wantErr: `for listeners: listener SSL uses SSL; Sluice serves PLAINTEXT only`},
		{name: "two listeners", args: []string{"--listeners=PLAINTEXT://:1,OTHER://:2"}, wantErr: `Sluice serves one listener`},
		{name: "advertised without the listener's name", args: []string{"--advertised.listeners=OTHER://h:1"}, wantErr: `for advertised.listeners: no listener named PLAINTEXT`},
		{name: "advertise 0.0.0.0", args: []string{"--listeners=PLAINTEXT://0.0.0.0:9092"}, wantErr: `for listeners: cannot advertise the non-routable address 0.0.0.0`},
		{name: "empty log.dirs", args: []string{"--log.dirs=,"}, wantErr: `invalid value "," for log.dirs: names no directory`},
		{name: "bad admin listener", args: []string{"--admin.listener=9644"}, wantErr: `invalid value "9644" for admin.listener: want host:port or empty`},
		{name: "bad fetch path", args: []string{"--fetch.path=splice"}, wantErr: `--fetch.path: invalid value "splice" for fetch.path: want copy or sendfile`},
		{name: "bad log level", args: []string{"--log.level=loud"}, wantErr: `invalid value "loud" for log.level`},
		{name: "positional argument", args: []string{"server.properties"}, wantErr: `unexpected argument "server.properties"`},
		{name: "flag without value", args: []string{"--node.id"}, wantErr: `flag --node.id needs a value`},
		{name: "config twice", args: []string{"--config=a", "--config=b"}, wantErr: `--config given twice`},
		{name: "missing config file", args: []string{"--config=/nonexistent/server.properties"}, wantErr: `--config: open /nonexistent/server.properties`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				path := filepath.Join(t.TempDir(), "server.properties")
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", path}, args...)
			}
			c, help, err := loadServeConfig(args)
			if help {
				t.Fatal("help reported")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestServeHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"--node.id=1", "-h"}} {
		if _, help, err := loadServeConfig(args); !help || err != nil {
			t.Errorf("%q: help %v err %v", args, help, err)
		}
	}
}

// Every key serve accepts is in the help text, and no key is both known and ignored.
func TestServeKeysDocumented(t *testing.T) {
	var sb strings.Builder
	printServeUsage(&sb)
	for _, k := range serveKeys {
		if !strings.Contains(sb.String(), "  "+k.key+" ") {
			t.Errorf("%s missing from serve's usage", k.key)
		}
		if ignoredKeys[k.key] != "" {
			t.Errorf("%s is both known and ignored", k.key)
		}
	}
}

func TestServeGroupKeys(t *testing.T) {
	cfg, _, err := loadServeConfig([]string{"--group.initial.rebalance.delay.ms=0", "--offsets.retention.minutes=60", "--group.min.session.timeout.ms=100"})
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Broker.Groups
	if g.GroupInitialRebalanceDelayMs != 0 || g.OffsetsRetentionMinutes != 60 || g.GroupMinSessionTimeoutMs != 100 || g.GroupMaxSessionTimeoutMs != 1800000 {
		t.Fatalf("group config %+v", g)
	}
	if _, _, err := loadServeConfig([]string{"--group.min.session.timeout.ms=5000", "--group.max.session.timeout.ms=10"}); err == nil {
		t.Fatal("min session timeout above max was accepted")
	}
}
