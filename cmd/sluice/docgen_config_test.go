package main

// docs/configuration.md is generated from serveKeys and ignoredKeys (config.go), with an example
// printed by --print-config itself, so it cannot drift from what serve accepts. This test fails
// when the file is out of date; -update rewrites it:
//
//	go generate ./cmd/sluice
//	go test ./cmd/sluice -run TestConfigurationReference -update

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const configurationReferencePath = "../../docs/configuration.md"

func TestConfigurationReference(t *testing.T) {
	var b bytes.Buffer
	writeConfigurationReference(t, &b)
	checkGenerated(t, configurationReferencePath, b.Bytes(), "TestConfigurationReference")
}

// checkGenerated compares a generated file with the one on disk, or writes it with -update.
func checkGenerated(t *testing.T, path string, want []byte, testName string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; generate it with: go generate ./cmd/sluice", err)
	}
	if !bytes.Equal(have, want) {
		t.Errorf("%s is out of date; regenerate it with: go generate ./cmd/sluice (or go test ./cmd/sluice -run '^%s$' -update)\n%s",
			strings.TrimPrefix(path, "../../"), testName, firstDifference(string(have), string(want)))
	}
}

// configExample is the --print-config example in the reference: a flag, two environment
// variables and a synonym that loses.
var configExample = struct {
	env  map[string]string
	args []string
}{
	env:  map[string]string{"SLUICE_NUM_PARTITIONS": "3", "SLUICE_LOG_RETENTION_MS": "86400000"},
	args: []string{"--print-config", "--log.dirs=/var/lib/sluice", "--log.retention.hours=24"},
}

func writeConfigurationReference(t *testing.T, w io.Writer) {
	fmt.Fprint(w, `# sluice serve configuration reference

<!-- Generated from serveKeys and ignoredKeys (cmd/sluice/config.go) by
     cmd/sluice/docgen_config_test.go; do not edit by hand. Regenerate: go generate ./cmd/sluice
     (or: go test ./cmd/sluice -run TestConfigurationReference -update). `+"`make test`"+` fails when it is stale. -->

`+"`sluice serve`"+` takes Kafka's broker property names, so a Kafka `+"`server.properties`"+` loads as it is
(keys that mean nothing to a single Sluice node are [ignored](#kafka-keys-accepted-and-ignored)).
With no settings at all it serves on 127.0.0.1:9092 with its data in `+"`./data`"+`, created on first
start.

## Where a value comes from

Each key takes its value from the first of these that sets it:

| precedence | source | how | `+"`--print-config`"+` shows |
|---|---|---|---|
| 1 | flag | `+"`--key=value`"+` or `+"`--key value`"+` (one dash works too) | `+"`FLAG`"+`, origin `+"`--key`"+` |
| 2 | environment | `+"`SLUICE_`"+` and the key in upper case, dots and dashes as underscores: `+"`log.dirs`"+` is `+"`SLUICE_LOG_DIRS`"+` | `+"`ENV`"+`, origin `+"`$SLUICE_LOG_DIRS`"+` |
| 3 | properties file | `+"`--config FILE`"+`, else the file named by `+"`$SLUICE_CONFIG`"+`; Java properties syntax | `+"`FILE`"+`, origin `+"`file:line`"+` |
| 4 | default | the table below | `+"`DEFAULT`"+` |

- Within one source the last setting of a key wins (a key twice in the file, a flag given twice).
- Every value is checked, wherever it comes from; an error names its origin, the key and the
  value (`+"`$SLUICE_NUM_PARTITIONS: invalid value \"0\" for num.partitions: must be at least 1`"+`) and
  serve exits with status 2.
- Environment values are trimmed. An empty one is still a value: `+"`SLUICE_ADMIN_LISTENER=`"+`
  disables the admin listener, as `+"`--admin.listener=`"+` does.
- A `+"`SLUICE_`"+` variable that names no key is reported as a warning at start (and by
  `+"`--print-config`"+` on stderr) rather than silently dropped; `+"`SLUICE_BROKERS`"+` (the client
  commands' brokers) and `+"`SLUICE_CONFIG`"+` are not keys and are not reported.
- Synonyms keep Kafka's order whatever their source: `+"`log.retention.ms`"+` over
  `+"`log.retention.minutes`"+` over `+"`log.retention.hours`"+`, `+"`log.roll.ms`"+` over `+"`log.roll.hours`"+`,
  `+"`log.dirs`"+` over `+"`log.dir`"+`; `+"`node.id`"+` and `+"`broker.id`"+` must agree. So a flag
  `+"`--log.retention.hours=24`"+` does not beat `+"`log.retention.ms`"+` in the file: override
  `+"`log.retention.ms`"+` itself. `+"`--print-config`"+` lists the values that are not used and why.

## Checking the configuration

`+"`sluice serve --print-config`"+` resolves and checks the settings, prints every key's value and
where it came from, and exits (status 0, or 2 with the first bad value). `+"`--format json`"+` prints
the same for scripts: `+"`config_file`"+`, then `+"`settings`"+` (key, value — `+"`null`"+` when unset —,
source, origin, env, unused_because) and `+"`ignored`"+`. For example (rows from defaults left out):

`+"```text\n")
	// The example is --print-config's real output, so it cannot drift either.
	env := configExample.env
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var out, errOut bytes.Buffer
	if code := runServe(configExample.args, serveEnv{lookup: lookup}, &out, &errOut); code != exitOK {
		t.Fatalf("--print-config example: exit %d: %s", code, errOut.String())
	}
	var names []string
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "$ %s sluice serve %s | grep -v DEFAULT\n", envAssignments(names, env), strings.Join(configExample.args, " "))
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if !strings.Contains(line, " DEFAULT") {
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprint(w, "```\n")

	fmt.Fprint(w, `
What clients see: DescribeConfigs (kadm's DescribeBrokerConfigs and DescribeTopicConfigs, the
Java AdminClient, sarama) reports Kafka's sources, which do not tell a file from a flag or the
environment: every key set in the file, a `+"`SLUICE_`"+` variable or a flag is
`+"`STATIC_BROKER_CONFIG`"+` (Kafka's source for server.properties), even when set to its default, and
every other key is `+"`DEFAULT_CONFIG`"+`; topic configs set on the topic are `+"`DYNAMIC_TOPIC_CONFIG`"+`.
Synonyms list the static settings among a key's names, then their defaults: with
`+"`log.retention.hours=24`"+` in the file, `+"`retention.ms`"+` reads 86400000 from
`+"`STATIC_BROKER_CONFIG`"+` with the synonyms `+"`log.retention.hours=24`"+` (static) and
`+"`log.retention.hours=168`"+` (default). `+"`sluice topic describe TOPIC`"+` shows the sources.

## Keys

| key | default | environment variable | meaning |
|---|---|---|---|
`)
	for _, k := range serveKeys {
		def := "-"
		if k.def != "" {
			def = "`" + k.def + "`"
		}
		fmt.Fprintf(w, "| `%s` | %s | `%s` | %s |\n", k.key, def, envName(k.key), escapeCell(k.help))
	}

	fmt.Fprint(w, `
A default of "-" means the key is unset unless given: a synonym or the meaning column decides.

## Kafka keys accepted and ignored

Keys of a stock Kafka `+"`server.properties`"+` that mean nothing to a single Sluice node. They are
accepted from the file or as flags (not from the environment), logged at start and listed by
`+"`--print-config`"+`; any other unknown key is an error, because silently dropping a setting the
operator relies on is worse.

| key | why it is ignored |
|---|---|
`)
	ignored := make([]string, 0, len(ignoredKeys))
	for k := range ignoredKeys {
		ignored = append(ignored, k)
	}
	slices.Sort(ignored)
	for _, k := range ignored {
		fmt.Fprintf(w, "| `%s` | %s |\n", k, escapeCell(ignoredKeys[k]))
	}

	fmt.Fprint(w, `
## Topic configs

Topics take Kafka's topic config names (`+"`retention.ms`"+`, `+"`retention.bytes`"+`, `+"`segment.bytes`"+`,
`+"`segment.ms`"+`, `+"`max.message.bytes`"+`, `+"`flush.messages`"+`, `+"`flush.ms`"+`, …) at creation
(`+"`sluice topic create T -c KEY=VALUE`"+`) or later (`+"`sluice topic alter-config T --set KEY=VALUE`"+`); a
topic without its own value follows the broker key it defaults from (`+"`log.retention.ms`"+` for
`+"`retention.ms`"+`, …). `+"`sluice topic describe T -c`"+` lists every topic config Sluice honours with its
value and source. See [cli.md](cli.md).
`)
}

func envAssignments(names []string, env map[string]string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + env[n]
	}
	return strings.Join(parts, " ")
}

// escapeCell makes text safe in a Markdown table cell.
func escapeCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
