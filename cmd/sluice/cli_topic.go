package main

// sluice topic: create, list, describe, alter-config, add-partitions, delete — through kadm
// (reassign and reassignments: cli_reassign.go).

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (c *cli) topicCommand() *cobra.Command {
	cmd := parentCommand("topic", "Create, list, describe, configure and delete topics", "")
	cmd.AddCommand(c.topicCreateCommand(), c.topicListCommand(), c.topicDescribeCommand(),
		c.topicAlterConfigCommand(), c.topicAddPartitionsCommand(), c.topicDeleteCommand(),
		c.topicReassignCommand(), c.topicReassignmentsCommand())
	return cmd
}

// topicStatusJSON is one topic's outcome in the JSON output of create, alter-config,
// add-partitions and delete.
type topicStatusJSON struct {
	Topic      string  `json:"topic"`
	ID         string  `json:"id,omitempty"`
	Partitions int32   `json:"partitions,omitempty"`
	Replicas   int16   `json:"replicas,omitempty"`
	Error      *string `json:"error"`
}

func (c *cli) topicCreateCommand() *cobra.Command {
	var (
		partitions int32
		replicas   int16
		configs    []string
		dryRun     bool
		format     outputFormat
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Long: `Create topics with a number of partitions, a replication factor and topic configs.

Creating a topic that exists fails (exit status 1) and leaves it as it is. Topic
configs use Kafka's names: retention.ms, retention.bytes, segment.bytes, segment.ms,
max.message.bytes, cleanup.policy, min.insync.replicas, flush.messages, flush.ms,
message.timestamp.type.`,
		Example: `  sluice topic create orders -p 3 -r 1
  sluice topic create clicks views -p 6 -c retention.ms=86400000`,
		Args: minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			cfg, err := parseKeyValues(configs, "--topic-config")
			if err != nil {
				return err
			}
			ptrs := make(map[string]*string, len(cfg))
			for k, v := range cfg {
				ptrs[k] = &v
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			create := adm.CreateTopics
			if dryRun {
				create = adm.ValidateCreateTopics
			}
			resps, err := create(ctx, partitions, replicas, ptrs, topics...)
			if err != nil {
				return c.explain(err)
			}
			fails := &failures{errOut: c.errOut}
			rows := make([]topicStatusJSON, 0, len(topics))
			errs := make(map[string]error)
			for _, t := range topics {
				r, ok := resps[t]
				if !ok {
					r.Err = fmt.Errorf("the broker did not answer for topic %s", t)
				}
				row := topicStatusJSON{Topic: t, Error: errorString(r.Err, r.ErrMessage)}
				if r.Err == nil {
					row.ID, row.Partitions, row.Replicas = topicIDString(r.ID), r.NumPartitions, r.ReplicationFactor
				} else {
					errs[t] = r.Err
					fails.add(topicError(t, r.Err, r.ErrMessage))
				}
				rows = append(rows, row)
			}
			if format == formatJSON {
				if err := writeJSON(c.out, rows); err != nil {
					return err
				}
				return fails.result()
			}
			tb := newTable(c.out, "TOPIC", "PARTITIONS", "REPLICAS", "STATUS")
			for _, row := range rows {
				switch {
				case errs[row.Topic] != nil:
					tb.row(row.Topic, "-", "-", errorCode(errs[row.Topic]))
				case dryRun:
					tb.row(row.Topic, row.Partitions, row.Replicas, "OK (dry run)")
				default:
					tb.row(row.Topic, row.Partitions, row.Replicas, "OK")
				}
			}
			tb.flush()
			return fails.result()
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "partitions of each topic (-1: the broker's num.partitions)")
	f.Int16VarP(&replicas, "replicas", "r", -1, "replication factor (-1: the broker's default.replication.factor)")
	f.StringArrayVarP(&configs, "topic-config", "c", nil, "topic config KEY=VALUE; repeat for more")
	f.BoolVar(&dryRun, "dry-run", false, "let the broker validate the request without creating anything")
	addFormatFlag(cmd, &format)
	return cmd
}

// topicListJSON is one row of `topic list --format json`.
type topicListJSON struct {
	Name       string  `json:"name"`
	ID         string  `json:"id"`
	Partitions int     `json:"partitions"`
	Replicas   int     `json:"replicas"`
	Internal   bool    `json:"internal"`
	Error      *string `json:"error,omitempty"`
}

func (c *cli) topicListCommand() *cobra.Command {
	var (
		internal bool
		format   outputFormat
	)
	cmd := &cobra.Command{
		Use:     "list [REGEXP...]",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Long: `List topics with their partition count and replication factor, sorted by name.

With regular expressions, only the topics whose names match one of them (anchored at
neither end, as grep does).`,
		Example: `  sluice topic list
  sluice topic list --format json
  sluice topic list '^orders'`,
		RunE: func(cmd *cobra.Command, patterns []string) error {
			var res []*regexp.Regexp
			for _, p := range patterns {
				re, err := regexp.Compile(p)
				if err != nil {
					return usageErrorf("bad regular expression %q: %v", p, err)
				}
				res = append(res, re)
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			tds, err := list(ctx)
			if err != nil {
				return c.explain(err)
			}
			rows := []topicListJSON{} // [] rather than null when there are none
			for _, td := range tds.Sorted() {
				if !matchesAny(td.Topic, res) {
					continue
				}
				rows = append(rows, topicListJSON{
					Name: td.Topic, ID: topicIDString(td.ID), Partitions: len(td.Partitions),
					Replicas: td.Partitions.NumReplicas(), Internal: td.IsInternal,
					Error: errorString(td.Err, ""),
				})
			}
			if format == formatJSON {
				return writeJSON(c.out, rows)
			}
			tb := newTable(c.out, "NAME", "PARTITIONS", "REPLICAS")
			for _, r := range rows {
				name := r.Name
				if r.Internal {
					name += " (internal)"
				}
				if r.Error != nil {
					tb.row(name, "-", "-", *r.Error)
					continue
				}
				tb.row(name, r.Partitions, r.Replicas)
			}
			tb.flush()
			return nil
		},
	}
	cmd.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics (__consumer_offsets, ...)")
	addFormatFlag(cmd, &format)
	return cmd
}

func matchesAny(s string, res []*regexp.Regexp) bool {
	if len(res) == 0 {
		return true
	}
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// topicDescribeJSON is one topic in `topic describe --format json`.
type topicDescribeJSON struct {
	Name       string                `json:"name"`
	ID         string                `json:"id"`
	Internal   bool                  `json:"internal"`
	Replicas   int                   `json:"replicas"`
	Partitions []partitionDetailJSON `json:"partitions"`
	Configs    []topicConfigJSON     `json:"configs"`
}

type partitionDetailJSON struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	LogStartOffset  int64   `json:"log_start_offset"`
	HighWatermark   int64   `json:"high_watermark"`
	Error           *string `json:"error,omitempty"`
}

type topicConfigJSON struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

func (c *cli) topicDescribeCommand() *cobra.Command {
	var (
		summary, configs, partitions bool
		format                       outputFormat
	)
	cmd := &cobra.Command{
		Use:   "describe TOPIC...",
		Short: "Describe topics: summary, configs with their source, partitions",
		Long: `Describe topics in three sections: a summary; every topic config with its value and
where the value comes from (DYNAMIC_TOPIC_CONFIG: set on the topic; STATIC_BROKER_CONFIG:
set on the broker, in its config file, environment or flags; DEFAULT_CONFIG: the
default); and each partition's leader, leader epoch, replicas, ISR, log start offset
and high watermark.

-s, -c and -p print only the sections asked for.`,
		Example: `  sluice topic describe orders
  sluice topic describe orders -p
  sluice topic describe orders --format json`,
		Args: minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if !summary && !configs && !partitions {
				summary, configs, partitions = true, true, true
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			md, err := adm.Metadata(ctx, topics...)
			if err != nil {
				return c.explain(err)
			}
			fails := &failures{errOut: c.errOut}
			var found []string
			for _, t := range topics {
				td, ok := md.Topics[t]
				switch {
				case !ok:
					fails.add(topicError(t, kerr.UnknownTopicOrPartition, ""))
				case td.Err != nil:
					fails.add(topicError(t, td.Err, ""))
				default:
					found = append(found, t)
				}
			}
			if len(found) == 0 {
				return fails.result()
			}
			rcs, err := adm.DescribeTopicConfigs(ctx, found...)
			if err != nil {
				return c.explain(err)
			}
			starts, err := adm.ListStartOffsets(ctx, found...)
			if err != nil {
				return c.explain(err)
			}
			ends, err := adm.ListEndOffsets(ctx, found...)
			if err != nil {
				return c.explain(err)
			}
			var out []topicDescribeJSON
			for _, t := range found {
				td := md.Topics[t]
				d := topicDescribeJSON{Name: t, ID: topicIDString(td.ID), Internal: td.IsInternal,
					Replicas: td.Partitions.NumReplicas(), Partitions: []partitionDetailJSON{}, Configs: []topicConfigJSON{}}
				for _, p := range td.Partitions.Sorted() {
					pj := partitionDetailJSON{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
						Replicas: orEmpty(p.Replicas), ISR: orEmpty(p.ISR), OfflineReplicas: orEmpty(p.OfflineReplicas),
						LogStartOffset: -1, HighWatermark: -1, Error: errorString(p.Err, "")}
					if o, ok := starts.Lookup(t, p.Partition); ok && o.Err == nil {
						pj.LogStartOffset = o.Offset
					}
					if o, ok := ends.Lookup(t, p.Partition); ok && o.Err == nil {
						pj.HighWatermark = o.Offset
					}
					d.Partitions = append(d.Partitions, pj)
				}
				rc, err := rcs.On(t, nil)
				if err == nil && rc.Err != nil {
					err = rc.Err
				}
				if err != nil {
					fails.add(fmt.Errorf("topic %s: describing configs: %s", t, kafkaErrorText(err, rc.ErrMessage)))
				}
				for _, cf := range rc.Configs {
					d.Configs = append(d.Configs, topicConfigJSON{Name: cf.Key, Value: cf.Value, Source: cf.Source.String(), Sensitive: cf.Sensitive})
				}
				sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Name < d.Configs[j].Name })
				out = append(out, d)
			}
			if format == formatJSON {
				if err := writeJSON(c.out, out); err != nil {
					return err
				}
				return fails.result()
			}
			for i, d := range out {
				if i > 0 {
					fmt.Fprintln(c.out)
				}
				printTopicDescription(c, d, summary, configs, partitions)
			}
			return fails.result()
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&summary, "summary", "s", false, "print the summary section")
	f.BoolVarP(&configs, "configs", "c", false, "print the configs section")
	f.BoolVarP(&partitions, "partitions", "p", false, "print the partitions section")
	addFormatFlag(cmd, &format)
	return cmd
}

func printTopicDescription(c *cli, d topicDescribeJSON, summary, configs, partitions bool) {
	first := true
	if summary {
		section(c.out, first, "SUMMARY")
		first = false
		tb := newTable(c.out)
		tb.row("NAME", d.Name)
		tb.row("ID", d.ID)
		tb.row("PARTITIONS", len(d.Partitions))
		tb.row("REPLICAS", d.Replicas)
		if d.Internal {
			tb.row("INTERNAL", true)
		}
		tb.flush()
	}
	if configs {
		section(c.out, first, "CONFIGS")
		first = false
		tb := newTable(c.out, "KEY", "VALUE", "SOURCE")
		for _, cf := range d.Configs {
			v := "-"
			switch {
			case cf.Sensitive:
				v = "(sensitive)"
			case cf.Value != nil:
				v = *cf.Value
			}
			tb.row(cf.Name, v, cf.Source)
		}
		tb.flush()
	}
	if partitions {
		section(c.out, first, "PARTITIONS")
		tb := newTable(c.out, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START-OFFSET", "HIGH-WATERMARK")
		for _, p := range d.Partitions {
			cells := []any{p.Partition, p.Leader, p.LeaderEpoch, int32List(p.Replicas), int32List(p.ISR), offsetCell(p.LogStartOffset), offsetCell(p.HighWatermark)}
			if p.Error != nil {
				cells = append(cells, *p.Error)
			}
			tb.row(cells...)
		}
		tb.flush()
	}
}

// offsetCell prints an offset, or "-" for -1 (unknown, or none committed).
func offsetCell(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

func orEmpty(ns []int32) []int32 {
	if ns == nil {
		return []int32{}
	}
	return ns
}

func (c *cli) topicAlterConfigCommand() *cobra.Command {
	var (
		set, del []string
		dryRun   bool
		format   outputFormat
	)
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC... [--set KEY=VALUE]... [--delete KEY]...",
		Short: "Set or delete topic configs",
		Long: `Set topic configs, or delete them so the topic follows the broker's setting again
(IncrementalAlterConfigs: configs not named keep their values).`,
		Example: `  sluice topic alter-config orders --set retention.ms=3600000
  sluice topic alter-config orders --delete retention.ms --set segment.bytes=1048576`,
		Args: minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			if len(set) == 0 && len(del) == 0 {
				return usageErrorf("nothing to change: give --set KEY=VALUE or --delete KEY")
			}
			kvs, err := parseKeyValues(set, "--set")
			if err != nil {
				return err
			}
			var alters []kadm.AlterConfig
			for _, k := range sortedKeys(kvs) {
				v := kvs[k]
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range del {
				if _, both := kvs[k]; both {
					return usageErrorf("%s is both set and deleted", k)
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			alter := adm.AlterTopicConfigs
			if dryRun {
				alter = adm.ValidateAlterTopicConfigs
			}
			resps, err := alter(ctx, alters, topics...)
			if err != nil {
				return c.explain(err)
			}
			return c.printTopicStatuses(topics, format, dryRun, func(t string) (error, string) {
				r, err := resps.On(t, nil)
				if err != nil {
					return fmt.Errorf("the broker did not answer for topic %s", t), ""
				}
				return r.Err, r.ErrMessage
			})
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&set, "set", "s", nil, "set KEY=VALUE; repeat for more")
	f.StringArrayVarP(&del, "delete", "d", nil, "delete KEY (back to the broker's value); repeat for more")
	f.BoolVar(&dryRun, "dry-run", false, "let the broker validate the change without applying it")
	addFormatFlag(cmd, &format)
	return cmd
}

// printTopicStatuses prints TOPIC STATUS rows (or JSON), reports failures on stderr and returns
// the exit status.
func (c *cli) printTopicStatuses(topics []string, format outputFormat, dryRun bool, outcome func(string) (error, string)) error {
	fails := &failures{errOut: c.errOut}
	rows := make([]topicStatusJSON, 0, len(topics))
	codes := make([]string, 0, len(topics))
	for _, t := range topics {
		err, msg := outcome(t)
		rows = append(rows, topicStatusJSON{Topic: t, Error: errorString(err, msg)})
		code := errorCode(err)
		if err != nil {
			fails.add(topicError(t, err, msg))
		} else if dryRun {
			code += " (dry run)"
		}
		codes = append(codes, code)
	}
	if format == formatJSON {
		if err := writeJSON(c.out, rows); err != nil {
			return err
		}
		return fails.result()
	}
	tb := newTable(c.out, "TOPIC", "STATUS")
	for i, r := range rows {
		tb.row(r.Topic, codes[i])
	}
	tb.flush()
	return fails.result()
}

func (c *cli) topicAddPartitionsCommand() *cobra.Command {
	var (
		add, to int
		dryRun  bool
		format  outputFormat
	)
	cmd := &cobra.Command{
		Use:   "add-partitions TOPIC... (-n N | --to N)",
		Short: "Add partitions to topics",
		Long: `Add partitions to topics: -n more each, or up to --to in all. Partitions cannot be
removed. Records already written stay where they are, so keys hashed to a partition
before the change may map to another one after it.`,
		Example: `  sluice topic add-partitions orders -n 3
  sluice topic add-partitions orders --to 12`,
		Args: minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			switch {
			case add == 0 && to == 0:
				return usageErrorf("give -n N (partitions to add) or --to N (total)")
			case add != 0 && to != 0:
				return usageErrorf("give -n or --to, not both")
			case add < 0 || to < 0:
				return usageErrorf("partition counts must be positive")
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			tds, err := adm.ListTopics(ctx, topics...)
			if err != nil {
				return c.explain(err)
			}
			// Ask for each topic's new total (UpdatePartitions) rather than "n more", so the
			// output can say what it is.
			totals := make(map[string]int, len(topics))
			byTotal := make(map[int][]string)
			preErr := make(map[string]error)
			for _, t := range topics {
				td, ok := tds[t]
				switch {
				case !ok:
					preErr[t] = kerr.UnknownTopicOrPartition
					continue
				case td.Err != nil:
					preErr[t] = td.Err
					continue
				}
				total := to
				if add > 0 {
					total = len(td.Partitions) + add
				}
				totals[t] = total
				byTotal[total] = append(byTotal[total], t)
			}
			resps := make(kadm.CreatePartitionsResponses)
			for total, ts := range byTotal {
				update := adm.UpdatePartitions
				if dryRun {
					update = adm.ValidateUpdatePartitions
				}
				rs, err := update(ctx, total, ts...)
				if err != nil {
					return c.explain(err)
				}
				for t, r := range rs {
					resps[t] = r
				}
			}
			fails := &failures{errOut: c.errOut}
			rows := make([]topicStatusJSON, 0, len(topics))
			for _, t := range topics {
				err, msg := preErr[t], ""
				if err == nil {
					r, ok := resps[t]
					if !ok {
						r.Err = fmt.Errorf("the broker did not answer for topic %s", t)
					}
					err, msg = r.Err, r.ErrMessage
				}
				row := topicStatusJSON{Topic: t, Error: errorString(err, msg)}
				if err != nil {
					fails.add(topicError(t, err, msg))
				} else {
					row.Partitions = int32(totals[t])
				}
				rows = append(rows, row)
			}
			if format == formatJSON {
				if err := writeJSON(c.out, rows); err != nil {
					return err
				}
				return fails.result()
			}
			tb := newTable(c.out, "TOPIC", "PARTITIONS", "STATUS")
			for _, r := range rows {
				p, status := "-", "OK"
				if r.Error == nil {
					p = fmt.Sprint(r.Partitions)
					if dryRun {
						status += " (dry run)"
					}
				} else {
					status = errorCode(preErr[r.Topic])
					if preErr[r.Topic] == nil {
						status = errorCode(resps[r.Topic].Err)
					}
				}
				tb.row(r.Topic, p, status)
			}
			tb.flush()
			return fails.result()
		},
	}
	f := cmd.Flags()
	f.IntVarP(&add, "num", "n", 0, "partitions to add to each topic")
	f.IntVar(&to, "to", 0, "total partitions each topic should have")
	f.BoolVar(&dryRun, "dry-run", false, "let the broker validate the change without applying it")
	addFormatFlag(cmd, &format)
	return cmd
}

func (c *cli) topicDeleteCommand() *cobra.Command {
	var format outputFormat
	cmd := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Example: `  sluice topic delete orders`,
		Args:    minArgs(1, "at least one topic name"),
		RunE: func(cmd *cobra.Command, topics []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteTopics(ctx, topics...)
			if err != nil {
				return c.explain(err)
			}
			return c.printTopicStatuses(topics, format, false, func(t string) (error, string) {
				r, ok := resps[t]
				if !ok {
					return fmt.Errorf("the broker did not answer for topic %s", t), ""
				}
				return r.Err, r.ErrMessage
			})
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// parseKeyValues parses repeated KEY=VALUE flag values.
func parseKeyValues(kvs []string, flag string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("%s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
