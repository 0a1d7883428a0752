// Command sluice is the Sluice broker binary.
//
//	sluice serve [--config server.properties] [--KEY=VALUE ...]   run a broker
//	sluice help [serve]                                           usage
//
// serve takes Kafka's broker property names (config.go), prints one line on stdout once it
// accepts connections, logs to stderr, and stops cleanly on SIGINT or SIGTERM.
//
// Exit status: 0 clean stop, 1 the broker failed, 2 bad command line or configuration.
package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

const usage = `Sluice is a Kafka-compatible broker.

Usage:
  sluice <command> [arguments]

Commands:
  serve    run a broker (sluice serve --help lists its settings)
  help     print this help; "help serve" for serve's settings

Coming later: topic, group, produce, consume, bench.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "serve" {
			printServeUsage(stdout)
			return 0
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func printServeUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: sluice serve [--config server.properties] [--KEY=VALUE ...]

Runs one broker. Settings use Kafka's broker property names; each can be set in the
properties file or as a flag (--key=value or --key value), and flags override the file.
Unknown keys are an error, except Kafka keys that mean nothing to a single Sluice node
(process.roles, num.io.threads, ...), which are logged and ignored. Prints one line on
stdout once it accepts connections; SIGINT or SIGTERM stops it cleanly.

Settings:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  key\tdefault\tmeaning")
	for _, k := range serveKeys {
		def := k.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.key, def, k.help)
	}
	_ = tw.Flush()
}
