package main

// `sluice serve --print-config`: every key's effective value and where it came from (DEFAULT,
// FILE, ENV, FLAG), as a table or JSON.

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// configRow is one key as --print-config shows it.
type configRow struct {
	Key string `json:"key"`
	// Value is the key's value as given, or its default; nil when it has neither (the key is
	// unset and something else decides: log.retention.ms, group.max.size, ...).
	Value  *string `json:"value"`
	Source string  `json:"source"`           // DEFAULT, FILE, ENV or FLAG
	Origin string  `json:"origin,omitempty"` // file:line, $NAME or --key; empty for DEFAULT
	Env    string  `json:"env"`              // the key's environment variable
	// UnusedBecause says why the value has no effect, when a synonym decides instead (Kafka's
	// precedence among log.retention.ms/.minutes/.hours, log.roll.ms/.hours, log.dirs/log.dir).
	UnusedBecause string `json:"unused_because,omitempty"`
}

// ignoredRow is a Kafka key that was set but means nothing to a single Sluice node.
type ignoredRow struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
	Origin string `json:"origin"`
	Reason string `json:"reason"`
}

// printedConfig is --print-config's JSON document.
type printedConfig struct {
	ConfigFile *string      `json:"config_file"` // null: no properties file
	Settings   []configRow  `json:"settings"`
	Ignored    []ignoredRow `json:"ignored"`
}

// effectiveSettings lists every serve key, in serveKeys order, with the value that applies and
// its source. inv must have loaded without error.
func (inv *serveInvocation) effectiveSettings() printedConfig {
	won := map[string]setting{} // key → the setting that applies
	src := map[string]configSource{}
	for _, layer := range []struct {
		source   configSource
		settings []setting
	}{{sourceFile, inv.file}, {sourceEnv, inv.env}, {sourceFlag, inv.flags}} {
		for _, s := range layer.settings {
			won[s.key], src[s.key] = s, layer.source
		}
	}
	isSet := func(key string) bool { _, ok := won[key]; return ok }

	out := printedConfig{Settings: []configRow{}, Ignored: []ignoredRow{}}
	if inv.configPath != "" {
		out.ConfigFile = &inv.configPath
	}
	for _, k := range serveKeys {
		row := configRow{Key: k.key, Source: sourceDefault.String(), Env: envName(k.key)}
		if s, ok := won[k.key]; ok {
			v := s.value
			row.Value, row.Source, row.Origin = &v, src[k.key].String(), s.origin
		} else if def := effectiveDefault(k, won); def != "" {
			row.Value = &def
		}
		if row.Value != nil {
			row.UnusedBecause = unusedBecause(k.key, isSet)
		}
		out.Settings = append(out.Settings, row)
	}
	for _, s := range inv.cfg.Ignored {
		source := sourceFile
		for _, f := range inv.flags {
			if f == s {
				source = sourceFlag
			}
		}
		out.Ignored = append(out.Ignored, ignoredRow{Key: s.key, Value: s.value, Source: source.String(), Origin: s.origin, Reason: ignoredKeys[s.key]})
	}
	return out
}

// effectiveDefault is k's default as a value: serveKeys' default, except advertised.listeners,
// which defaults to listeners' value.
func effectiveDefault(k keyDoc, won map[string]setting) string {
	if k.key == "advertised.listeners" {
		if s, ok := won["listeners"]; ok {
			return s.value
		}
		return defaultListeners
	}
	return k.def
}

// unusedBecause says why key's value does not apply when one of its synonyms decides (the
// precedence buildServeConfig applies), else "".
func unusedBecause(key string, isSet func(string) bool) string {
	firstSet := func(keys ...string) string {
		for _, k := range keys {
			if isSet(k) {
				return k
			}
		}
		return ""
	}
	var winner string
	switch key {
	case "log.retention.hours":
		winner = firstSet("log.retention.ms", "log.retention.minutes")
	case "log.retention.minutes":
		winner = firstSet("log.retention.ms")
	case "log.roll.hours":
		winner = firstSet("log.roll.ms")
	case "log.dirs":
		if !isSet("log.dirs") {
			winner = firstSet("log.dir")
		}
	case "log.dir":
		winner = firstSet("log.dirs")
	case "node.id":
		if !isSet("node.id") {
			winner = firstSet("broker.id")
		}
	}
	if winner == "" {
		return ""
	}
	return winner + " is set"
}

// writePrintConfig prints the effective settings as a table (unset values as "-", empty ones as
// "") followed by the ignored Kafka keys and the notes on unused values, or as JSON.
func writePrintConfig(w io.Writer, format outputFormat, inv *serveInvocation) error {
	pc := inv.effectiveSettings()
	if format == formatJSON {
		return writeJSON(w, pc)
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tORIGIN")
	var notes []string
	for _, r := range pc.Settings {
		v := "-" // unset
		switch {
		case r.Value == nil:
		case *r.Value == "":
			v = `""` // set to empty, which means something (admin.listener: off)
		default:
			v = *r.Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Key, v, r.Source, r.Origin)
		if r.UnusedBecause != "" {
			notes = append(notes, fmt.Sprintf("%s is not used: %s", r.Key, r.UnusedBecause))
		}
	}
	_ = tw.Flush()
	if len(pc.Ignored) > 0 {
		fmt.Fprintln(&buf, "\nIgnored (Kafka keys that mean nothing to a single Sluice node):")
		tw = tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KEY\tVALUE\tSOURCE\tORIGIN\tWHY")
		for _, r := range pc.Ignored {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Key, r.Value, r.Source, r.Origin, r.Reason)
		}
		_ = tw.Flush()
	}
	if len(notes) > 0 {
		fmt.Fprintf(&buf, "\n%s\n", strings.Join(notes, "\n"))
	}
	// tabwriter pads every cell but the last; a DEFAULT row's empty ORIGIN would leave blanks.
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}
