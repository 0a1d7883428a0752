package main

// sluice topic reassign / reassignments (AlterPartitionReassignments, ListPartitionReassignments)
// and sluice cluster elect-leaders (ElectLeaders) — through kadm.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// partitionStatusJSON is one partition's outcome in the JSON output of reassign and elect-leaders.
type partitionStatusJSON struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Error     *string `json:"error"`
}

// printPartitionStatuses prints one row per partition; errors other than those ok accepts fail
// the command.
func (c *cli) printPartitionStatuses(rows []partitionStatusJSON, errs []error, msgs []string, format outputFormat, ok func(error) bool) error {
	fails := &failures{errOut: c.errOut}
	for i, r := range rows {
		if errs[i] != nil && !ok(errs[i]) {
			fails.add(fmt.Errorf("%s-%d: %s", r.Topic, r.Partition, kafkaErrorText(errs[i], msgs[i])))
		}
	}
	if format == formatJSON {
		if err := writeJSON(c.out, rows); err != nil {
			return err
		}
		return fails.result()
	}
	tb := newTable(c.out, "TOPIC", "PARTITION", "STATUS")
	for i, r := range rows {
		tb.row(r.Topic, r.Partition, errorCode(errs[i]))
	}
	tb.flush()
	return fails.result()
}

// parseBrokerIDs parses "1,2,3".
func parseBrokerIDs(s string) ([]int32, error) {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return nil, usageErrorf("--replicas %q: want broker ids like 1,2,3", s)
		}
		out = append(out, int32(n))
	}
	return out, nil
}

func (c *cli) topicReassignCommand() *cobra.Command {
	var (
		format     outputFormat
		partitions []int32
		replicas   string
		cancel     bool
	)
	cmd := &cobra.Command{
		Use:   "reassign TOPIC -p PARTITION... (--replicas IDS | --cancel)",
		Short: "Move partitions' replicas to other brokers, or cancel a move in progress",
		Long: `Move partitions' replicas to the brokers listed, the first one preferred as leader
(Kafka's partition reassignment, KIP-455). The new replicas copy the partition from its leader;
the move completes once they are all in sync, and the brokers left out delete their copy. Watch it
with: sluice topic reassignments. --cancel returns a partition being moved to its replicas.`,
		Example: `  sluice topic reassign orders -p 0 --replicas 2,3
  sluice topic reassign orders -p 0 -p 1 --cancel`,
		Args: exactArgs(1, "a topic name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(partitions) == 0 {
				return usageErrorf("name the partitions to move with -p")
			}
			if cancel == (replicas != "") {
				return usageErrorf("give either --replicas or --cancel")
			}
			var target []int32
			if !cancel {
				var err error
				if target, err = parseBrokerIDs(replicas); err != nil {
					return err
				}
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			topic := args[0]
			req := kadm.AlterPartitionAssignmentsReq{}
			for _, p := range partitions {
				if cancel {
					req.CancelAssign(topic, p)
				} else {
					req.Assign(topic, p, target)
				}
			}
			resps, err := adm.AlterPartitionAssignments(ctx, req)
			if err != nil {
				return c.explain(err)
			}
			var rows []partitionStatusJSON
			var errs []error
			var msgs []string
			for _, p := range partitions {
				r, ok := resps[topic][p]
				if !ok {
					r.Err = fmt.Errorf("the broker did not answer for partition %d", p)
				}
				rows = append(rows, partitionStatusJSON{Topic: topic, Partition: p, Error: errorString(r.Err, r.ErrMessage)})
				errs, msgs = append(errs, r.Err), append(msgs, r.ErrMessage)
			}
			return c.printPartitionStatuses(rows, errs, msgs, format, func(error) bool { return false })
		},
	}
	cmd.Flags().Int32SliceVarP(&partitions, "partition", "p", nil, "a partition to move (repeat or comma-separate)")
	cmd.Flags().StringVar(&replicas, "replicas", "", "the target broker ids, preferred leader first, e.g. 2,3")
	cmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the partitions' reassignment in progress")
	addFormatFlag(cmd, &format)
	return cmd
}

// reassignmentJSON is one partition being moved.
type reassignmentJSON struct {
	Topic            string  `json:"topic"`
	Partition        int32   `json:"partition"`
	Replicas         []int32 `json:"replicas"`
	AddingReplicas   []int32 `json:"adding_replicas"`
	RemovingReplicas []int32 `json:"removing_replicas"`
}

func (c *cli) topicReassignmentsCommand() *cobra.Command {
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "reassignments [TOPIC...]",
		Short: "List the partitions being moved",
		Long: `List the partitions whose replicas are being moved (sluice topic reassign): their
replicas, the ones being added (still catching up) and the ones being removed. Without topics,
every partition of every topic.`,
		Example: `  sluice topic reassignments
  sluice topic reassignments orders --format json`,
		RunE: func(cmd *cobra.Command, topics []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			if len(topics) == 0 {
				md, err := adm.Metadata(ctx)
				if err != nil {
					return c.explain(err)
				}
				topics = md.Topics.Names()
			}
			set := kadm.TopicsSet{}
			if err := c.addWholeTopics(ctx, adm, set, topics); err != nil {
				return err
			}
			ls, err := adm.ListPartitionReassignments(ctx, set)
			if err != nil {
				return c.explain(err)
			}
			rows := []reassignmentJSON{}
			for _, r := range ls.Sorted() {
				rows = append(rows, reassignmentJSON{Topic: r.Topic, Partition: r.Partition, Replicas: nonNil(r.Replicas),
					AddingReplicas: nonNil(r.AddingReplicas), RemovingReplicas: nonNil(r.RemovingReplicas)})
			}
			if format == formatJSON {
				return writeJSON(c.out, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.out, "no reassignments in progress")
				return nil
			}
			tb := newTable(c.out, "TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING")
			for _, r := range rows {
				tb.row(r.Topic, r.Partition, idList(r.Replicas), idList(r.AddingReplicas), idList(r.RemovingReplicas))
			}
			tb.flush()
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// addWholeTopics adds every partition of the topics to set; a topic that does not exist is an
// error.
func (c *cli) addWholeTopics(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet, topics []string) error {
	if len(topics) == 0 {
		return nil
	}
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return c.explain(err)
	}
	for _, t := range topics {
		d, ok := td[t]
		if !ok || d.Err != nil {
			return topicError(t, kerr.UnknownTopicOrPartition, "")
		}
		for p := range d.Partitions {
			set.Add(t, p)
		}
	}
	return nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func idList(s []int32) string {
	if len(s) == 0 {
		return "-"
	}
	parts := make([]string, len(s))
	for i, id := range s {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

func (c *cli) clusterElectLeadersCommand() *cobra.Command {
	var (
		format outputFormat
		typ    string
	)
	cmd := &cobra.Command{
		Use:   "elect-leaders [TOPIC[:PARTITION]...]",
		Short: "Move leadership back to preferred replicas, or elect leaders for leaderless partitions",
		Long: `Elect partition leaders (Kafka's ElectLeaders). --type preferred (the default) makes
each partition's first replica its leader again where it is in sync; --type unclean gives a
leaderless partition a leader even out of sync, which loses the records only the lost replicas
held. Without partitions, every partition, and only those that needed an election are listed.
ELECTION_NOT_NEEDED is not an error.`,
		Example: `  sluice cluster elect-leaders
  sluice cluster elect-leaders orders:0 orders:1
  sluice cluster elect-leaders orders --type unclean`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var how kadm.ElectLeadersHow
			switch typ {
			case "preferred":
				how = kadm.ElectPreferredReplica
			case "unclean":
				how = kadm.ElectLiveReplica
			default:
				return usageErrorf("--type %q: want preferred or unclean", typ)
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			var set kadm.TopicsSet
			var whole []string
			for _, a := range args {
				if set == nil {
					set = kadm.TopicsSet{}
				}
				name, part, hasPart := strings.Cut(a, ":")
				if !hasPart {
					whole = append(whole, name)
					continue
				}
				p, err := strconv.ParseInt(part, 10, 32)
				if err != nil || p < 0 {
					return usageErrorf("%q: want TOPIC or TOPIC:PARTITION", a)
				}
				set.Add(name, int32(p))
			}
			if err := c.addWholeTopics(ctx, adm, set, whole); err != nil {
				return err
			}
			rs, err := adm.ElectLeaders(ctx, how, set)
			if err != nil {
				return c.explain(err)
			}
			var results []kadm.ElectLeadersResult
			for _, ps := range rs {
				for _, r := range ps {
					results = append(results, r)
				}
			}
			sort.Slice(results, func(i, j int) bool {
				if results[i].Topic != results[j].Topic {
					return results[i].Topic < results[j].Topic
				}
				return results[i].Partition < results[j].Partition
			})
			if len(results) == 0 && format != formatJSON {
				fmt.Fprintln(c.out, "no partition needed an election")
				return nil
			}
			rows := []partitionStatusJSON{}
			var errs []error
			var msgs []string
			for _, r := range results {
				rows = append(rows, partitionStatusJSON{Topic: r.Topic, Partition: r.Partition, Error: errorString(r.Err, r.ErrMessage)})
				errs, msgs = append(errs, r.Err), append(msgs, r.ErrMessage)
			}
			return c.printPartitionStatuses(rows, errs, msgs, format, func(err error) bool { return errors.Is(err, kerr.ElectionNotNeeded) })
		},
	}
	cmd.Flags().StringVar(&typ, "type", "preferred", "preferred or unclean")
	addFormatFlag(cmd, &format)
	return cmd
}
