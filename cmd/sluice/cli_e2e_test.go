package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestCLIBinary runs the everyday client commands as an operator would: the built binary
// against a `sluice serve` process, the brokers from SLUICE_BROKERS, records through stdin.
func TestCLIBinary(t *testing.T) {
	bin := buildSluice(t)
	p := startSluice(t, bin, "--log.dirs="+t.TempDir())
	sluice := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...) // killed at the deadline if it hangs
		cmd.Env = append(os.Environ(), brokersEnv+"="+p.kafkaAddr)
		cmd.Stdin = strings.NewReader(stdin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	if out := sluice("", "topic", "create", "ops", "-p", "1", "-r", "1"); !strings.Contains(out, "ops    1           1         OK") {
		t.Errorf("topic create:\n%s", out)
	}
	sluice("a\nb\n", "produce", "ops")
	if out := sluice("", "consume", "ops", "-n", "2"); out != "a\nb\n" {
		t.Errorf("consume -n 2: %q", out)
	}
	if out := sluice("", "topic", "list", "--format", "json"); !strings.Contains(out, `"name": "ops"`) {
		t.Errorf("topic list --format json:\n%s", out)
	}
	p.stop(t)
}
