//go:build compat

package compat

// DescribeConfigs sources seen by kafka-python (the Java AdminClient's wire behaviour in Python)
// from a real `sluice serve`: keys set in the properties file, the environment and flags are
// STATIC_BROKER_CONFIG (4), the rest DEFAULT_CONFIG (5), a topic's own setting
// DYNAMIC_TOPIC_CONFIG (1), with synonyms.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const kafkaPythonDescribeConfigs = `
import sys
from kafka.admin import KafkaAdminClient, NewTopic, ConfigResource, ConfigResourceType
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
admin.create_topics([NewTopic(name="py-configs", num_partitions=1, replication_factor=1, topic_configs={"retention.ms": "3600000"})])
keys = ["log.segment.bytes", "log.retention.bytes", "message.max.bytes", "num.partitions"]
for resp in admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "0", configs=dict.fromkeys(keys)),
                                    ConfigResource(ConfigResourceType.TOPIC, "py-configs", configs=dict.fromkeys(["retention.ms", "segment.bytes"]))],
                                   include_synonyms=True):
    for res in resp.resources:
        for e in res[4]:
            print(e[0], e[1], e[3], " ".join("%s=%s:%d" % (s[0], s[1], s[2]) for s in e[5]))
`

func TestKafkaPythonDescribeConfigsSources(t *testing.T) {
	py := "/usr/bin/python3" // Debian's python3-kafka belongs to this interpreter
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		t.Fatalf("python3-kafka missing for %s (.ci/run installs it): %v", py, err)
	}
	dir := t.TempDir()
	props := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(props, []byte("log.segment.bytes=1073741824\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_LOG_RETENTION_BYTES", "-1") // inherited by the sluice process
	// Each set to Kafka's default, so only the provenance can make them static.
	b := startBroker(t, filepath.Join(dir, "data"), "--config", props, "--message.max.bytes=1048588")
	script := filepath.Join(dir, "describe.py")
	if err := os.WriteFile(script, []byte(kafkaPythonDescribeConfigs), 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(run(t, nil, py, script, b.addr))), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		got[name] = rest
	}
	for name, want := range map[string]string{
		"log.segment.bytes":   "1073741824 4 log.segment.bytes=1073741824:4 log.segment.bytes=1073741824:5",
		"log.retention.bytes": "-1 4 log.retention.bytes=-1:4 log.retention.bytes=-1:5",
		"message.max.bytes":   "1048588 4 message.max.bytes=1048588:4 message.max.bytes=1048588:5",
		"num.partitions":      "1 5 num.partitions=1:5",
		"retention.ms":        "3600000 1 retention.ms=3600000:1 log.retention.hours=168:5",
		"segment.bytes":       "1073741824 4 log.segment.bytes=1073741824:4 log.segment.bytes=1073741824:5",
	} {
		if got[name] != want {
			t.Errorf("kafka-python: %s = %q, want %q", name, got[name], want)
		}
	}
}
