package main

// Configuration precedence (flags > environment > file > defaults), the SLUICE_ variables and
// --print-config.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// envOf is a serveEnv over a map, listing its names too.
func envOf(m map[string]string) serveEnv {
	return serveEnv{
		lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok },
		names: func() []string {
			names := make([]string, 0, len(m))
			for k := range m {
				names = append(names, k)
			}
			return names
		},
	}
}

// writeProperties writes a properties file into a temp dir and returns its path.
func writeProperties(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"log.dirs":                  "SLUICE_LOG_DIRS",
		"num.partitions":            "SLUICE_NUM_PARTITIONS",
		"auto.create.topics.enable": "SLUICE_AUTO_CREATE_TOPICS_ENABLE",
		"some-key.with-dashes":      "SLUICE_SOME_KEY_WITH_DASHES",
	} {
		if got := envName(key); got != want {
			t.Errorf("envName(%q) = %q, want %q", key, got, want)
		}
	}
	// The mapping must be one-to-one over serve's keys, and clear of the other SLUICE_ variables.
	seen := map[string]string{}
	for _, k := range serveKeys {
		name := envName(k.key)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s both map to %s", other, k.key, name)
		}
		seen[name] = k.key
		if name == brokersEnv || name == configFileEnv {
			t.Errorf("%s maps to %s, which means something else", k.key, name)
		}
	}
}

// TestServeConfigPrecedence sets one key in every combination of sources and checks both the
// value serve uses and what --print-config says about it.
func TestServeConfigPrecedence(t *testing.T) {
	const key = "num.partitions"
	for _, tc := range []struct {
		name            string
		file, env, flag string // "" = not set there
		want            string // the value that applies
		source, origin  string
	}{
		{name: "default", want: "1", source: "DEFAULT"},
		{name: "file", file: "2", want: "2", source: "FILE", origin: "server.properties:1"},
		{name: "env", env: "3", want: "3", source: "ENV", origin: "$SLUICE_NUM_PARTITIONS"},
		{name: "flag", flag: "4", want: "4", source: "FLAG", origin: "--num.partitions"},
		{name: "env beats file", file: "2", env: "3", want: "3", source: "ENV", origin: "$SLUICE_NUM_PARTITIONS"},
		{name: "flag beats file", file: "2", flag: "4", want: "4", source: "FLAG", origin: "--num.partitions"},
		{name: "flag beats env", env: "3", flag: "4", want: "4", source: "FLAG", origin: "--num.partitions"},
		{name: "flag beats env beats file", file: "2", env: "3", flag: "4", want: "4", source: "FLAG", origin: "--num.partitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			var args []string
			if tc.file != "" {
				// A second key in the file checks that a lower source's other keys still apply.
				args = append(args, "--config", writeProperties(t, key+"="+tc.file+"\nnode.id=7\n"))
			}
			if tc.env != "" {
				env["SLUICE_NUM_PARTITIONS"] = tc.env
			}
			if tc.flag != "" {
				args = append(args, "--"+key+"="+tc.flag)
			}
			inv, err := loadServe(args, envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if got := strconv.Itoa(int(inv.cfg.Broker.NumPartitions)); got != tc.want {
				t.Errorf("NumPartitions %s, want %s", got, tc.want)
			}
			if tc.file != "" && inv.cfg.Broker.NodeID != 7 {
				t.Errorf("node.id from the file lost: %d", inv.cfg.Broker.NodeID)
			}
			row := settingRow(t, inv, key)
			origin := row.Origin
			if tc.source == "FILE" {
				origin = filepath.Base(origin) // the file is in a temp dir
			}
			if deref(row.Value) != tc.want || row.Source != tc.source || origin != tc.origin {
				t.Errorf("print-config row: value %s source %s origin %q; want %s %s %q", deref(row.Value), row.Source, row.Origin, tc.want, tc.source, tc.origin)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func settingRow(t *testing.T, inv serveInvocation, key string) configRow {
	t.Helper()
	for _, r := range inv.effectiveSettings().Settings {
		if r.Key == key {
			return r
		}
	}
	t.Fatalf("no row for %s", key)
	return configRow{}
}

func TestServeEnv(t *testing.T) {
	t.Run("every key reads its variable", func(t *testing.T) {
		inv, err := loadServe(nil, envOf(map[string]string{
			"SLUICE_LOG_DIRS": " /srv/sluice ", "SLUICE_AUTO_CREATE_TOPICS_ENABLE": "false",
			"SLUICE_LOG_RETENTION_MS": "-1", "SLUICE_LISTENERS": "PLAINTEXT://127.0.0.1:19092",
			"SLUICE_ADMIN_LISTENER": "", "SLUICE_GROUP_MAX_SIZE": "5",
		}))
		if err != nil {
			t.Fatal(err)
		}
		c := inv.cfg
		if c.Broker.LogDir != "/srv/sluice" || c.Broker.AutoCreateTopics || c.Broker.LogDefaults.RetentionMs != -1 ||
			c.ListenAddr != "127.0.0.1:19092" || c.AdminAddr != "" || c.Broker.Groups.GroupMaxSize != 5 {
			t.Errorf("got %+v", c)
		}
		if len(inv.warnings) != 0 {
			t.Errorf("warnings %q", inv.warnings)
		}
	})
	t.Run("a bad value names its variable", func(t *testing.T) {
		_, err := loadServe(nil, envOf(map[string]string{"SLUICE_NUM_PARTITIONS": "0"}))
		if err == nil || err.Error() != `$SLUICE_NUM_PARTITIONS: invalid value "0" for num.partitions: must be at least 1` {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("unknown SLUICE_ variables are reported, others are not", func(t *testing.T) {
		inv, err := loadServe(nil, envOf(map[string]string{
			"SLUICE_NUM_PARTITION": "3", "SLUICE_BROKERS": "x:1", "SLUICE_CONFIG": "", "HOME": "/root",
			"SLUICE_PROCESS_ROLES": "broker", // an ignored Kafka key: from files and flags only
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"$SLUICE_NUM_PARTITION names no setting and is ignored (sluice serve --help lists them)",
			"$SLUICE_PROCESS_ROLES names no setting and is ignored (sluice serve --help lists them)",
		}
		if strings.Join(inv.warnings, "\n") != strings.Join(want, "\n") {
			t.Errorf("warnings\n%s\nwant\n%s", strings.Join(inv.warnings, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("SLUICE_CONFIG names the file; --config wins", func(t *testing.T) {
		envFile := writeProperties(t, "node.id=3\n")
		flagFile := writeProperties(t, "node.id=4\n")
		inv, err := loadServe(nil, envOf(map[string]string{"SLUICE_CONFIG": envFile}))
		if err != nil || inv.cfg.Broker.NodeID != 3 || inv.configPath != envFile {
			t.Fatalf("$SLUICE_CONFIG: node %d path %q err %v", inv.cfg.Broker.NodeID, inv.configPath, err)
		}
		inv, err = loadServe([]string{"--config", flagFile}, envOf(map[string]string{"SLUICE_CONFIG": envFile}))
		if err != nil || inv.cfg.Broker.NodeID != 4 {
			t.Fatalf("--config: node %d err %v", inv.cfg.Broker.NodeID, err)
		}
		_, err = loadServe(nil, envOf(map[string]string{"SLUICE_CONFIG": "/nonexistent/server.properties"}))
		if err == nil || !strings.HasPrefix(err.Error(), "$SLUICE_CONFIG: open /nonexistent/server.properties") {
			t.Fatalf("missing file: %v", err)
		}
	})
	t.Run("cross-key precedence holds across sources", func(t *testing.T) {
		// log.retention.ms in the file beats log.retention.hours as a flag, as in Kafka.
		path := writeProperties(t, "log.retention.ms=5000\n")
		inv, err := loadServe([]string{"--config", path, "--log.retention.hours=1"}, serveEnv{})
		if err != nil {
			t.Fatal(err)
		}
		if inv.cfg.Broker.LogDefaults.RetentionMs != 5000 {
			t.Errorf("RetentionMs %d", inv.cfg.Broker.LogDefaults.RetentionMs)
		}
		if r := settingRow(t, inv, "log.retention.hours"); r.UnusedBecause != "log.retention.ms is set" || r.Source != "FLAG" {
			t.Errorf("log.retention.hours row %+v", r)
		}
	})
}

func TestServeArgsPrintConfig(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		print   bool
		format  outputFormat
		wantErr string
	}{
		{args: []string{"--print-config"}, print: true, format: formatText},
		{args: []string{"--print-config", "--format", "json"}, print: true, format: formatJSON},
		{args: []string{"--format=json", "-print-config"}, print: true, format: formatJSON},
		{args: []string{"--print-config=false"}, print: false, format: formatText},
		{args: []string{"--format", "json"}, wantErr: "--format applies to --print-config only"},
		{args: []string{"--print-config", "--format", "yaml"}, wantErr: "--format yaml: want text or json"},
		{args: []string{"--print-config=maybe"}, wantErr: "--print-config=maybe: want true or false"},
	} {
		inv, err := parseServeArgs(tc.args)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || inv.printConfig != tc.print || inv.format != tc.format {
			t.Errorf("%q: print %v format %q err %v", tc.args, inv.printConfig, inv.format, err)
		}
	}
}

// TestPrintConfigCommand runs `sluice serve --print-config` through the command line: exit
// statuses, stdout and stderr.
func TestPrintConfigCommand(t *testing.T) {
	path := writeProperties(t, "process.roles=broker,controller\nlog.dir=/from/file\nnum.partitions=2\n")
	env := map[string]string{"SLUICE_NUM_PARTITIONS": "3", "SLUICE_NODE_ID": "5", "SLUICE_TYPO": "1"}
	run := func(args ...string) cliResult {
		var stdout, stderr strings.Builder
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		code := runWithEnv(args, strings.NewReader(""), &stdout, &stderr, lookup, envOf(env).names)
		return cliResult{stdout.String(), stderr.String(), code}
	}

	r := run("serve", "--config", path, "--print-config", "--node.id=6", "--num.io.threads=8")
	if r.code != 0 || r.stderr != "sluice serve: warning: $SLUICE_TYPO names no setting and is ignored (sluice serve --help lists them)\n" {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"KEY ", "\nnode.id ", " 6 ", " FLAG ", "--node.id\n",
		"\nnum.partitions ", " ENV ", "$SLUICE_NUM_PARTITIONS\n",
		"\nlog.dir ", "/from/file", " FILE ", path + ":2\n",
		"\nlog.dirs ", "./data",
		"\nIgnored (Kafka keys that mean nothing to a single Sluice node):\n",
		"process.roles ", path + ":1 ", "num.io.threads ", "--num.io.threads ",
		"\nlog.dirs is not used: log.dir is set\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for i, l := range strings.Split(r.stdout, "\n") {
		if strings.TrimRight(l, " ") != l {
			t.Errorf("line %d has trailing blanks: %q", i+1, l)
		}
	}

	r = run("serve", "--config", path, "--print-config", "--format", "json", "--num.io.threads=8")
	if r.code != 0 {
		t.Fatalf("json: exit %d\n%s", r.code, r.stderr)
	}
	var pc printedConfig
	if err := json.Unmarshal([]byte(r.stdout), &pc); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if pc.ConfigFile == nil || *pc.ConfigFile != path || len(pc.Settings) != len(serveKeys) {
		t.Errorf("config_file %v, %d settings", deref(pc.ConfigFile), len(pc.Settings))
	}
	byKey := map[string]configRow{}
	for _, s := range pc.Settings {
		byKey[s.Key] = s
	}
	if s := byKey["node.id"]; deref(s.Value) != "5" || s.Source != "ENV" || s.Origin != "$SLUICE_NODE_ID" || s.Env != "SLUICE_NODE_ID" {
		t.Errorf("node.id %+v", s)
	}
	if s := byKey["log.retention.ms"]; s.Value != nil || s.Source != "DEFAULT" || s.Origin != "" {
		t.Errorf("log.retention.ms %+v", s)
	}
	if s := byKey["log.dirs"]; deref(s.Value) != "./data" || s.UnusedBecause != "log.dir is set" {
		t.Errorf("log.dirs %+v", s)
	}
	if len(pc.Ignored) != 2 || pc.Ignored[0].Key != "process.roles" || pc.Ignored[0].Source != "FILE" ||
		pc.Ignored[1].Key != "num.io.threads" || pc.Ignored[1].Source != "FLAG" || pc.Ignored[1].Reason != ignoredKeys["num.io.threads"] {
		t.Errorf("ignored %+v", pc.Ignored)
	}

	// A bad value: exit 2 and the reason, nothing on stdout.
	env["SLUICE_LOG_LEVEL"] = "loud"
	r = run("serve", "--print-config")
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, `sluice serve: $SLUICE_LOG_LEVEL: invalid value "loud" for log.level`) {
		t.Errorf("bad value: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
