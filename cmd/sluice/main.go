// Command sluice is the Sluice broker binary and its command-line client, in the spirit of
// Redpanda's rpk:
//
//	sluice serve [--config server.properties] [--KEY=VALUE ...]   run a broker
//	sluice topic create|list|describe|alter-config|add-partitions|delete
//	sluice produce TOPIC, sluice consume TOPIC...
//	sluice group list|describe|seek|delete
//	sluice cluster info|health
//
// serve takes Kafka's broker property names (config.go) from flags, SLUICE_ environment
// variables and a properties file, in that precedence; --print-config shows the result
// (printconfig.go). It prints one line on stdout once it accepts connections, logs to stderr,
// and stops cleanly on SIGINT or SIGTERM. The client commands (cli_*.go) talk to the brokers in
// --brokers, else $SLUICE_BROKERS, else 127.0.0.1:9092, through franz-go (kadm for
// administration, kgo for records). docs/cli.md, docs/configuration.md and the API table of
// docs/compatibility.md are generated (docgen*_test.go; go generate ./cmd/sluice).
//
// Exit status: 0 success, 1 the command or the broker failed, 2 bad command line or
// configuration.
package main

//go:generate go test -run ^(TestCLIReference|TestConfigurationReference|TestCompatibilityReference)$ -update .

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed (or the broker did)
	exitUsage = 2 // bad command line or configuration
)

func init() {
	// Commands are listed in the order they are added (most used first), not alphabetically.
	cobra.EnableCommandSorting = false
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a command line with the process's stdin and environment and returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	return runWithEnv(args, os.Stdin, stdout, stderr, os.LookupEnv, environNames)
}

// runWith executes a command line with the given streams and environment lookup (tests pass
// their own, so they need not change the process's environment) and returns the exit status.
func runWith(args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	return runWithEnv(args, stdin, stdout, stderr, lookupEnv, nil)
}

// runWithEnv is runWith that can also list the environment's variable names (envNames may be
// nil), which `sluice serve` checks for misspelt SLUICE_ variables.
func runWithEnv(args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool), envNames func() []string) int {
	if len(args) > 0 && args[0] == "-help" { // Go-style, as sluice accepted before cobra
		args = append([]string{"--help"}, args[1:]...)
	}
	c := &cli{in: stdin, out: stdout, errOut: stderr, lookupEnv: lookupEnv, envNames: envNames}
	root := c.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return exitOK
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec) // the command printed what went wrong
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		cmd := root
		if found, _, ferr := root.Find(args); ferr == nil && found != nil {
			cmd = found
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintf(stderr, "sluice: %v\n", err)
	return exitFail
}

// exitCode is returned by a command that has already printed why it failed.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a bad command line: exit status 2 and a pointer to --help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// isCobraUsageError recognises the errors cobra returns for command lines it cannot parse
// (cobra has no error types for them).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag",
		"invalid argument", "flag needs an argument", "required flag", "accepts ", "requires at least",
		"requires at most", "if any flags in the group", "none of the others can be", "bad flag syntax",
		"at least one of the flags"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

const rootLong = `Sluice is a Kafka-compatible broker, and this is its command-line client.

The client commands talk to the brokers in --brokers, else $SLUICE_BROKERS, else
127.0.0.1:9092. They print tables for people; --format json prints JSON for scripts.`

// rootCommand builds the command tree. Every run builds a fresh tree, so no flag value leaks
// from one run to the next (tests run many in one process).
func (c *cli) rootCommand() *cobra.Command {
	root := parentCommand("sluice", "Sluice is a Kafka-compatible broker", rootLong)
	root.SilenceErrors = true // runWith prints errors, with the exit status they deserve
	root.SilenceUsage = true
	root.SetIn(c.in)
	root.SetOut(c.out)
	root.SetErr(c.errOut)
	root.SetUsageFunc(usageFunc)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	pf := root.PersistentFlags()
	pf.StringVarP(&c.brokersFlag, "brokers", "b", "", "comma-separated host:port list of brokers to bootstrap from\n(default $SLUICE_BROKERS, else "+defaultBrokers+")")
	pf.DurationVar(&c.timeout, "timeout", defaultRequestTimeout, "how long an admin request or a metadata lookup may take")

	root.AddGroup(
		&cobra.Group{ID: "client", Title: "Client Commands:"},
		&cobra.Group{ID: "broker", Title: "Broker Commands:"},
	)
	for _, sub := range []*cobra.Command{
		c.topicCommand(), c.produceCommand(), c.consumeCommand(), c.groupCommand(), c.clusterCommand(),
	} {
		sub.GroupID = "client"
		root.AddCommand(sub)
	}
	serve := c.serveCommand()
	serve.GroupID = "broker"
	root.AddCommand(serve)
	return root
}

// serveCommand is `sluice serve`: the broker. It keeps its own Kafka-style --key=value parsing
// (config.go), so cobra hands it the arguments untouched.
func (c *cli) serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:                "serve [--config server.properties] [--KEY=VALUE ...]",
		Short:              "Run a broker (sluice serve --help lists its settings)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			env := serveEnv{lookup: c.lookupEnv, names: c.envNames}
			if code := runServe(args, env, c.out, c.errOut); code != exitOK {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { printServeUsage(cmd.OutOrStdout()) })
	return cmd
}

func printServeUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: sluice serve [--config server.properties] [--KEY=VALUE ...] [--print-config [--format text|json]]

Runs one broker. Settings use Kafka's broker property names. Each key takes its value
from the first of: a flag (--key=value or --key value); the environment, as SLUICE_ and
the key in upper case with dots and dashes as underscores (log.dirs: SLUICE_LOG_DIRS);
the properties file named by --config, else by $SLUICE_CONFIG; the default below.
--print-config prints every key's value and where it came from (DEFAULT, FILE, ENV,
FLAG) and exits.

Unknown keys are an error, except Kafka keys that mean nothing to a single Sluice node
(process.roles, num.io.threads, ...), which are logged and ignored. The data directory
is created on first start. Prints one line on stdout once it accepts connections;
SIGINT or SIGTERM stops it cleanly.

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

// noArgs refuses positional arguments; on a command with subcommands the first one is a
// mistyped subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageError{errors.New(msg)}
	}
	return usageErrorf("%s takes no arguments, got %q", commandName(cmd), args)
}

// commandName is the command's path without "sluice ", for messages that start "sluice: ".
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// parentCommand is a command that only groups subcommands: alone it prints its help on stderr
// and exits with status 2; with an argument that is no subcommand, it says so.
func parentCommand(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Help()
			return exitCode(exitUsage)
		},
	}
}

// exactArgs, minArgs: cobra's argument checks with messages that name what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s needs %s (got %d arguments)", commandName(cmd), what, len(args))
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s needs %s", commandName(cmd), what)
		}
		return nil
	}
}

// usageFunc prints a command's usage: cobra's layout, with "<command>" for commands that have
// subcommands.
func usageFunc(cmd *cobra.Command) error {
	w := cmd.OutOrStderr()
	fmt.Fprint(w, usageText(cmd))
	return nil
}

// usageText is the usage of cmd as usageFunc prints it (and docs/cli.md shows it).
func usageText(cmd *cobra.Command) string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "  %s <command> [flags]\n", cmd.CommandPath())
	} else {
		fmt.Fprintf(&b, "  %s\n", cmd.UseLine())
	}
	if len(cmd.Aliases) > 0 {
		fmt.Fprintf(&b, "\nAliases:\n  %s\n", cmd.NameAndAliases())
	}
	if cmd.HasExample() {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if cmd.HasAvailableSubCommands() {
		subs := cmd.Commands()
		listed := func(s *cobra.Command) bool { return s.IsAvailableCommand() || s.Name() == "help" }
		write := func(title, groupID string) {
			var lines []string
			for _, s := range subs {
				if s.GroupID == groupID && listed(s) {
					lines = append(lines, fmt.Sprintf("  %-*s  %s\n", s.NamePadding(), s.Name(), s.Short))
				}
			}
			if len(lines) > 0 {
				fmt.Fprintf(&b, "\n%s\n%s", title, strings.Join(lines, ""))
			}
		}
		if len(cmd.Groups()) == 0 {
			write("Commands:", "")
		} else {
			for _, g := range cmd.Groups() {
				write(g.Title, g.ID)
			}
			write("Additional Commands:", "")
		}
	}
	if cmd.HasAvailableLocalFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", cmd.LocalFlags().FlagUsages())
	}
	if cmd.HasAvailableInheritedFlags() {
		fmt.Fprintf(&b, "\nGlobal Flags:\n%s", cmd.InheritedFlags().FlagUsages())
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nUse \"%s <command> --help\" for more about a command.\n", cmd.CommandPath())
	}
	return b.String()
}
