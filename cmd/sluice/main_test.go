package main

import (
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string // substrings; "" checks nothing
		stdoutEmpty    bool
	}{
		{args: nil, code: 2, stderr: "Commands:\n  serve", stdoutEmpty: true},
		{args: []string{"help"}, code: 0, stdout: "Commands:\n  serve"},
		{args: []string{"--help"}, code: 0, stdout: "sluice <command>"},
		{args: []string{"help", "serve"}, code: 0, stdout: "log.retention.check.interval.ms"},
		{args: []string{"serve", "--help"}, code: 0, stdout: "admin.listener"},
		{args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, stdoutEmpty: true},
		{args: []string{"serve", "--no.such.key=1"}, code: 2, stderr: `sluice serve: --no.such.key: unknown key "no.such.key"`, stdoutEmpty: true},
		{args: []string{"serve", "--num.partitions=-1"}, code: 2, stderr: `invalid value "-1" for num.partitions`, stdoutEmpty: true},
	} {
		var stdout, stderr strings.Builder
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) ||
			(tc.stdoutEmpty && stdout.Len() > 0) {
			t.Errorf("run(%q) = %d\nstdout: %s\nstderr: %s", tc.args, code, stdout.String(), stderr.String())
		}
	}
}
