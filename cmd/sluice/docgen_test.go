package main

// docs/cli.md is generated from the command tree: each command's --help, in tree order. This
// test fails when the file is out of date (so `make test` keeps it current); -update rewrites it:
//
//	go generate ./cmd/sluice
//	go test ./cmd/sluice -run TestCLIReference -update

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const cliReferencePath = "../../docs/cli.md"

func TestCLIReference(t *testing.T) {
	var b bytes.Buffer
	writeCLIReference(&b)
	if *update {
		if err := os.MkdirAll(filepath.Dir(cliReferencePath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cliReferencePath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(cliReferencePath)
	if err != nil {
		t.Fatalf("%v; generate it with: go generate ./cmd/sluice", err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Errorf("docs/cli.md is out of date; regenerate it with: go generate ./cmd/sluice\n%s", firstDifference(string(have), b.String()))
	}
}

// writeCLIReference writes the reference: a header, a contents list, then each command's help.
func writeCLIReference(w io.Writer) {
	c := &cli{in: strings.NewReader(""), out: io.Discard, errOut: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}
	root := c.rootCommand()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()

	var cmds []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Hidden || cmd.Name() == "help" {
			return
		}
		cmds = append(cmds, cmd)
		if cmd.Name() == "completion" {
			return // one script per shell: cobra's boilerplate, listed under completion
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)

	fmt.Fprint(w, `# sluice command reference

<!-- Generated from the command tree (cmd/sluice/docgen_test.go); do not edit by hand.
     Regenerate: go generate ./cmd/sluice
     (or: go test ./cmd/sluice -run TestCLIReference -update). `+"`make test`"+` fails when it is stale. -->

Each section is what `+"`sluice COMMAND --help`"+` prints. The client commands reach the brokers in
`+"`--brokers`"+`, else `+"`$SLUICE_BROKERS`"+`, else 127.0.0.1:9092. Exit status: 0 success, 1 the command
failed (the reason is on stderr), 2 a bad command line.

`)
	for _, cmd := range cmds {
		depth := strings.Count(cmd.CommandPath(), " ")
		fmt.Fprintf(w, "%s- [%s](#%s) — %s\n", strings.Repeat("  ", depth), cmd.CommandPath(), anchor(cmd.CommandPath()), cmd.Short)
	}
	for _, cmd := range cmds {
		var help bytes.Buffer
		cmd.SetOut(&help)
		cmd.HelpFunc()(cmd, nil)
		fmt.Fprintf(w, "\n## %s\n\n```text\n%s\n```\n", cmd.CommandPath(), strings.TrimRight(help.String(), "\n"))
	}
}

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	return strings.ReplaceAll(strings.ToLower(heading), " ", "-")
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  file:      %q\n  generated: %q", i+1, x, y)
		}
	}
	return ""
}
