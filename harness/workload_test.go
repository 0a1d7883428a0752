package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimalWorkload = `
name: t
topics: 1
partitionsPerTopic: 2
messageSize: 100
producersPerTopic: 1
consumerPerSubscription: 1
testDuration: 2s
`

func TestParseWorkloadDefaults(t *testing.T) {
	w, err := ParseWorkload([]byte(minimalWorkload), "")
	if err != nil {
		t.Fatal(err)
	}
	if w.Acks != "all" || !*w.Idempotence || w.Compression != "none" || w.SubscriptionsPerTopic != 1 ||
		w.DrainTimeout != defaultDrainTimeout || *w.RandomBytesRatio != 1 || w.TestDuration != 2*time.Second {
		t.Errorf("defaults not applied: %+v", w)
	}
	if len(w.padding) != 100-headerBytes {
		t.Errorf("padding is %d bytes, want %d", len(w.padding), 100-headerBytes)
	}
}

func TestParseWorkload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string // appended to minimalWorkload, overriding its keys
		wantErr string // substring; "" means valid
		check   func(*testing.T, *Workload)
	}{
		{name: "acks as a YAML integer", yaml: "acks: 1\nidempotence: false", check: func(t *testing.T, w *Workload) {
			if w.Acks != "1" {
				t.Errorf("acks %q", w.Acks)
			}
		}},
		{name: "acks -1 means all", yaml: "acks: -1", check: func(t *testing.T, w *Workload) {
			if w.Acks != "all" {
				t.Errorf("acks %q", w.Acks)
			}
		}},
		{name: "idempotence defaults off below acks=all", yaml: "acks: 0", check: func(t *testing.T, w *Workload) {
			if *w.Idempotence {
				t.Error("idempotence on with acks=0")
			}
		}},
		{name: "OMB minutes", yaml: "testDuration: 0s\ntestDurationMinutes: 2\nwarmupDurationMinutes: 1\nkeyDistributor: NO_KEY", check: func(t *testing.T, w *Workload) {
			if w.TestDuration != 2*time.Minute || w.WarmupDuration != time.Minute {
				t.Errorf("durations %s %s", w.TestDuration, w.WarmupDuration)
			}
		}},
		{name: "half-random padding", yaml: "randomBytesRatio: 0.5", check: func(t *testing.T, w *Workload) {
			tail := w.padding[len(w.padding)/2+1:]
			for _, b := range tail {
				if b != 0 {
					t.Fatal("second half of the padding is not zeros")
				}
			}
		}},
		{name: "unknown field", yaml: "partitionPerTopic: 3", wantErr: "field partitionPerTopic not found"},
		{name: "no name", yaml: "name: ''", wantErr: "name is required"},
		{name: "zero topics", yaml: "topics: 0", wantErr: "topics must be at least 1, got 0"},
		{name: "zero partitions", yaml: "partitionsPerTopic: 0", wantErr: "partitionsPerTopic must be at least 1"},
		{name: "message smaller than the header", yaml: "messageSize: 10", wantErr: "messageSize must be within [24,"},
		{name: "message too large", yaml: "messageSize: 2000000", wantErr: "messageSize must be within"},
		{name: "no producers", yaml: "producersPerTopic: 0", wantErr: "producersPerTopic must be at least 1"},
		{name: "negative consumers", yaml: "consumerPerSubscription: -1", wantErr: "consumerPerSubscription must be 0"},
		{name: "negative rate", yaml: "producerRate: -5", wantErr: "producerRate must be 0"},
		{name: "bad acks", yaml: "acks: 2", wantErr: `acks must be 0, 1 or all, got "2"`},
		{name: "idempotence needs acks=all", yaml: "acks: 1\nidempotence: true", wantErr: "idempotence requires acks: all"},
		{name: "bad compression", yaml: "compression: brotli", wantErr: "compression must be none, gzip"},
		{name: "negative linger", yaml: "lingerMs: -1", wantErr: "lingerMs must be within"},
		{name: "batch smaller than a message", yaml: "batchBytes: 50", wantErr: "batchBytes must be 0"},
		{name: "no duration", yaml: "testDuration: 0s", wantErr: "testDuration must be within"},
		{name: "duration typo", yaml: "testDuration: 10h", wantErr: "testDuration must be within"},
		{name: "duration not a duration", yaml: "testDuration: soon", wantErr: "parse:"},
		{name: "random ratio out of range", yaml: "randomBytesRatio: 1.5", wantErr: "randomBytesRatio must be within"},
		{name: "key distributor", yaml: "keyDistributor: RANDOM_NANO", wantErr: "keyDistributor \"RANDOM_NANO\" is not implemented"},
		{name: "backlog", yaml: "consumerBacklogSizeGB: 1", wantErr: "consumerBacklogSizeGB is not implemented"},
		{name: "too many clients", yaml: "producersPerTopic: 2000", wantErr: "needs 2001 clients"},
		{name: "missing payload file", yaml: "payloadFile: /nonexistent/payload.data", wantErr: "payloadFile:"},
		{name: "every error at once", yaml: "topics: 0\nacks: x\ncompression: y", wantErr: "topics must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWorkload([]byte(overlay(minimalWorkload, tc.yaml)), "")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

// All validation errors are reported together, one per line.
func TestValidateReportsEveryError(t *testing.T) {
	_, err := ParseWorkload([]byte(overlay(minimalWorkload, "topics: 0\nacks: x\ncompression: y")), "")
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("want three errors, one per line; got %v", err)
	}
}

// A payload file supplies the message size and the bytes after the header,
// relative to the workload file's directory.
func TestPayloadFile(t *testing.T) {
	dir := t.TempDir()
	payload := []byte(strings.Repeat("abcdefgh", 16)) // 128 bytes
	if err := os.WriteFile(filepath.Join(dir, "p.data"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(minimalWorkload, "messageSize: 100", "payloadFile: p.data", 1)
	if err := os.WriteFile(filepath.Join(dir, "w.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := LoadWorkload(filepath.Join(dir, "w.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if w.MessageSize != len(payload) || string(w.padding) != string(payload[:len(payload)-headerBytes]) {
		t.Errorf("messageSize %d padding %q", w.MessageSize, w.padding)
	}
}

// Every shipped workload loads.
func TestShippedWorkloads(t *testing.T) {
	files, err := filepath.Glob("workloads/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workloads found: %v", err)
	}
	for _, f := range files {
		if _, err := LoadWorkload(f); err != nil {
			t.Error(err)
		}
	}
}

// overlay replaces minimal's keys that extra sets, so each case reads as
// the difference from a valid workload.
func overlay(minimal, extra string) string {
	set := map[string]bool{}
	for _, l := range strings.Split(extra, "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok {
			set[strings.TrimSpace(k)] = true
		}
	}
	var out []string
	for _, l := range strings.Split(minimal, "\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && set[strings.TrimSpace(k)] {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n" + extra + "\n"
}

func TestConsumerAssignment(t *testing.T) {
	base := "name: a\ntopics: 1\npartitionsPerTopic: 2\nmessageSize: 100\nproducersPerTopic: 1\nconsumerPerSubscription: 1\ntestDuration: 1s\n"
	w, err := ParseWorkload([]byte(base), "")
	if err != nil || w.ConsumerAssignment != AssignGroup {
		t.Fatalf("default: %v %q", err, w.ConsumerAssignment)
	}
	if w, err := ParseWorkload([]byte(base+"consumerAssignment: direct\n"), ""); err != nil || w.ConsumerAssignment != AssignDirect {
		t.Errorf("direct: %v", err)
	}
	if _, err := ParseWorkload([]byte(base+"consumerAssignment: share\n"), ""); err == nil {
		t.Error("consumerAssignment share accepted")
	}
	bad := strings.Replace(base, "consumerPerSubscription: 1", "consumerPerSubscription: 3", 1) + "consumerAssignment: direct\n"
	if _, err := ParseWorkload([]byte(bad), ""); err == nil || !strings.Contains(err.Error(), "at most partitionsPerTopic") {
		t.Errorf("3 direct consumers for 2 partitions: %v", err)
	}
}
