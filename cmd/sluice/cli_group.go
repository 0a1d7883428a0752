package main

// sluice group: list, describe (with lag), seek, delete — through kadm.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (c *cli) groupCommand() *cobra.Command {
	cmd := parentCommand("group", "List, describe, seek and delete consumer groups", "")
	cmd.AddCommand(c.groupListCommand(), c.groupDescribeCommand(), c.groupSeekCommand(), c.groupDeleteCommand())
	return cmd
}

// groupError words a per-group error from the broker, with the command that helps.
func groupError(group string, err error, msg string) error {
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return fmt.Errorf("group %s does not exist; list groups with: sluice group list", group)
	case errors.Is(err, kerr.NonEmptyGroup):
		return fmt.Errorf("group %s has active members; stop its consumers first", group)
	}
	return fmt.Errorf("group %s: %s", group, kafkaErrorText(err, msg))
}

type groupListJSON struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Type         string `json:"type,omitempty"`
	Coordinator  int32  `json:"coordinator"`
}

func (c *cli) groupListCommand() *cobra.Command {
	var (
		states []string
		format outputFormat
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: `  sluice group list
  sluice group list --state Empty --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			groups, err := adm.ListGroups(ctx, states...)
			if err != nil {
				return c.explain(err)
			}
			rows := []groupListJSON{}
			for _, g := range groups.Sorted() {
				rows = append(rows, groupListJSON{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType,
					Type: g.GroupType, Coordinator: g.Coordinator})
			}
			if format == formatJSON {
				return writeJSON(c.out, rows)
			}
			tb := newTable(c.out, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
			for _, r := range rows {
				tb.row(r.Group, orDash(r.State), orDash(r.ProtocolType), r.Coordinator)
			}
			tb.flush()
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Stable, Empty, PreparingRebalance, ...)")
	addFormatFlag(cmd, &format)
	return cmd
}

type groupDescribeJSON struct {
	Group        string               `json:"group"`
	Coordinator  int32                `json:"coordinator"`
	State        string               `json:"state"`
	ProtocolType string               `json:"protocol_type"`
	Protocol     string               `json:"protocol"`
	Members      []groupMemberJSON    `json:"members"`
	TotalLag     int64                `json:"total_lag"`
	Partitions   []groupPartitionJSON `json:"partitions"`
}

type groupMemberJSON struct {
	MemberID   string           `json:"member_id"`
	InstanceID *string          `json:"instance_id"`
	ClientID   string           `json:"client_id"`
	ClientHost string           `json:"client_host"`
	Assignment []topicPartsJSON `json:"assignment"`
}

type topicPartsJSON struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

type groupPartitionJSON struct {
	Topic           string `json:"topic"`
	Partition       int32  `json:"partition"`
	CommittedOffset int64  `json:"committed_offset"`
	LogStartOffset  int64  `json:"log_start_offset"`
	LogEndOffset    int64  `json:"log_end_offset"`
	Lag             int64  `json:"lag"`
	// TimeLagMs is now minus the timestamp of the record at the committed offset: 0 when caught
	// up, -1 when unknown.
	TimeLagMs  int64   `json:"time_lag_ms"`
	MemberID   string  `json:"member_id,omitempty"`
	ClientID   string  `json:"client_id,omitempty"`
	ClientHost string  `json:"client_host,omitempty"`
	Error      *string `json:"error,omitempty"`
}

func (c *cli) groupDescribeCommand() *cobra.Command {
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Describe groups: members, assignments, committed offsets and lag",
		Long: `Describe consumer groups: state, members and what each is assigned, and for every
partition the group consumes or has committed to, the committed offset, the log
start and end offsets, the lag (end minus committed; from the log start when
nothing is committed) and the time lag: how old the first record the group has not
consumed is (now minus the timestamp of the record at the committed offset; 0 when
caught up, - when unknown), read with one fetch per lagging partition.`,
		Example: `  sluice group describe billing
  sluice group describe billing --format json`,
		Args: minArgs(1, "at least one group name"),
		RunE: func(cmd *cobra.Command, groups []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, groups...)
			if err != nil {
				return c.explain(err)
			}
			fails := &failures{errOut: c.errOut}
			var out []groupDescribeJSON
			for _, g := range groups {
				l, ok := lags[g]
				switch {
				case !ok:
					fails.add(fmt.Errorf("group %s: the broker did not answer", g))
					continue
				case l.Error() != nil:
					fails.add(groupError(g, l.Error(), ""))
					continue
				case l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0:
					fails.add(groupError(g, kerr.GroupIDNotFound, ""))
					continue
				}
				d := describeGroupLag(l)
				c.addTimeLags(ctx, &d)
				out = append(out, d)
			}
			if format == formatJSON {
				if out == nil {
					out = []groupDescribeJSON{}
				}
				if err := writeJSON(c.out, out); err != nil {
					return err
				}
				return fails.result()
			}
			for i, d := range out {
				if i > 0 {
					fmt.Fprintln(c.out)
				}
				printGroupDescription(c, d)
			}
			return fails.result()
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func describeGroupLag(l kadm.DescribedGroupLag) groupDescribeJSON {
	d := groupDescribeJSON{Group: l.Group, Coordinator: l.Coordinator.NodeID, State: l.State,
		ProtocolType: l.ProtocolType, Protocol: l.Protocol, Members: []groupMemberJSON{},
		TotalLag: l.Lag.Total(), Partitions: []groupPartitionJSON{}}
	for _, m := range l.Members {
		mj := groupMemberJSON{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, Assignment: []topicPartsJSON{}}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mj.Assignment = append(mj.Assignment, topicPartsJSON{t.Topic, ps})
			}
			sort.Slice(mj.Assignment, func(i, j int) bool { return mj.Assignment[i].Topic < mj.Assignment[j].Topic })
		}
		d.Members = append(d.Members, mj)
	}
	for _, pl := range l.Lag.Sorted() {
		pj := groupPartitionJSON{Topic: pl.Topic, Partition: pl.Partition, CommittedOffset: pl.Commit.At,
			LogStartOffset: pl.Start.Offset, LogEndOffset: pl.End.Offset, Lag: pl.Lag, Error: errorString(pl.Err, "")}
		if pl.Start.Err != nil {
			pj.LogStartOffset = -1
		}
		if pl.Member != nil {
			pj.MemberID, pj.ClientID, pj.ClientHost = pl.Member.MemberID, pl.Member.ClientID, pl.Member.ClientHost
		}
		d.Partitions = append(d.Partitions, pj)
	}
	return d
}

func printGroupDescription(c *cli, d groupDescribeJSON) {
	tb := newTable(c.out)
	tb.row("GROUP", d.Group)
	tb.row("COORDINATOR", d.Coordinator)
	tb.row("STATE", d.State)
	tb.row("PROTOCOL-TYPE", orDash(d.ProtocolType))
	tb.row("PROTOCOL", orDash(d.Protocol))
	tb.row("MEMBERS", len(d.Members))
	tb.row("TOTAL-LAG", d.TotalLag)
	tb.flush()
	if len(d.Members) > 0 {
		fmt.Fprintln(c.out)
		tb = newTable(c.out, "MEMBER-ID", "CLIENT-ID", "HOST", "ASSIGNMENT")
		for _, m := range d.Members {
			var as []string
			for _, a := range m.Assignment {
				as = append(as, a.Topic+int32List(a.Partitions))
			}
			tb.row(m.MemberID, m.ClientID, m.ClientHost, orDash(strings.Join(as, " ")))
		}
		tb.flush()
	}
	if len(d.Partitions) > 0 {
		fmt.Fprintln(c.out)
		tb = newTable(c.out, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-START-OFFSET", "LOG-END-OFFSET", "LAG", "TIME-LAG", "MEMBER-ID", "CLIENT-ID", "HOST")
		for _, p := range d.Partitions {
			lag, timeLag := "-", "-"
			if p.Lag >= 0 {
				lag = fmt.Sprint(p.Lag)
			}
			if p.TimeLagMs >= 0 {
				timeLag = (time.Duration(p.TimeLagMs) * time.Millisecond).String()
			}
			cells := []any{p.Topic, p.Partition, offsetCell(p.CommittedOffset), offsetCell(p.LogStartOffset),
				offsetCell(p.LogEndOffset), lag, timeLag, orDash(p.MemberID), orDash(p.ClientID), orDash(p.ClientHost)}
			if p.Error != nil {
				cells = append(cells, *p.Error)
			}
			tb.row(cells...)
		}
		tb.flush()
	}
}

type groupSeekJSON struct {
	Topic       string  `json:"topic"`
	Partition   int32   `json:"partition"`
	PriorOffset int64   `json:"prior_offset"`
	NewOffset   int64   `json:"new_offset"`
	Error       *string `json:"error"`
}

func (c *cli) groupSeekCommand() *cobra.Command {
	var (
		to     string
		topics []string
		dryRun bool
		format outputFormat
	)
	cmd := &cobra.Command{
		Use:   "seek GROUP --to start|end|N|-N|@TIME [--topics T,...]",
		Short: "Move a group's committed offsets",
		Long: `Commit new offsets for a consumer group, which must have no active members: its
consumers resume from them. --to takes what consume's --offset takes (start, end,
N, -N, @TIME), resolved in each partition and kept within its log.

Without --topics, every topic the group has committed offsets for; with it, every
partition of those topics (so a new group can be set up before it first runs).`,
		Example: `  sluice group seek billing --to start
  sluice group seek billing --to @2024-05-01T00:00:00Z --topics orders
  sluice group seek billing --to end --dry-run`,
		Args: exactArgs(1, "one group name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if to == "" {
				return usageErrorf("--to is required: start, end, N, -N or @TIME")
			}
			spec, err := parseOffsetSpec(to, time.Now())
			if err != nil {
				return usageErrorf("--to %q: %v", to, err)
			}
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return c.explain(err)
			}
			// A group that does not exist yet is fine: seeking creates it with these offsets.
			dg, err := described.On(group, nil)
			if err == nil {
				err = dg.Err
			}
			if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
				return groupError(group, err, dg.ErrMessage)
			}
			if len(dg.Members) > 0 {
				return fmt.Errorf("group %s has %d active members (state %s); stop its consumers before seeking", group, len(dg.Members), dg.State)
			}
			prior, err := adm.FetchOffsets(ctx, group)
			if errors.Is(err, kerr.GroupIDNotFound) {
				prior, err = nil, nil
			}
			if err != nil {
				return fmt.Errorf("fetching the offsets of group %s: %w", group, c.explain(err))
			}
			committed := prior.Partitions()
			fromCommits := len(topics) == 0
			if fromCommits {
				if topics = committed.Topics(); len(topics) == 0 {
					return fmt.Errorf("group %s has no committed offsets; name the topics to seek with --topics", group)
				}
			}
			parts, err := c.topicPartitions(ctx, adm, topics...)
			if err != nil {
				return err
			}
			if fromCommits { // only the partitions the group committed to
				committed.EachPartitions(func(t string, ps []int32) {
					sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
					parts[t] = ps
				})
			}
			_, starts, err := c.resolveRange(ctx, adm, parts, spec, "")
			if err != nil {
				return err
			}
			var offsets kadm.Offsets
			for t, ps := range starts {
				for p, o := range ps {
					offsets.AddOffset(t, p, o, -1)
				}
			}
			var resps kadm.OffsetResponses
			if !dryRun {
				if resps, err = adm.CommitOffsets(ctx, group, offsets); err != nil {
					return c.explain(err)
				}
			}
			fails := &failures{errOut: c.errOut}
			rows := []groupSeekJSON{}
			for _, o := range offsets.Sorted() {
				row := groupSeekJSON{Topic: o.Topic, Partition: o.Partition, PriorOffset: -1, NewOffset: o.At}
				if po, ok := prior.Lookup(o.Topic, o.Partition); ok && po.Err == nil {
					row.PriorOffset = po.At
				}
				if !dryRun {
					r, ok := resps.Lookup(o.Topic, o.Partition)
					switch {
					case !ok:
						row.Error = errorString(errors.New("the broker did not answer"), "")
					case r.Err != nil:
						row.Error = errorString(r.Err, "")
					}
					if row.Error != nil {
						fails.add(fmt.Errorf("group %s, topic %s partition %d: %s", group, o.Topic, o.Partition, *row.Error))
					}
				}
				rows = append(rows, row)
			}
			if format == formatJSON {
				if err := writeJSON(c.out, rows); err != nil {
					return err
				}
				return fails.result()
			}
			tb := newTable(c.out, "TOPIC", "PARTITION", "PRIOR-OFFSET", "NEW-OFFSET", "STATUS")
			for _, r := range rows {
				status := "OK"
				if dryRun {
					status = "OK (dry run)"
				}
				if r.Error != nil {
					status = *r.Error
				}
				tb.row(r.Topic, r.Partition, offsetCell(r.PriorOffset), r.NewOffset, status)
			}
			tb.flush()
			return fails.result()
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "where to: start, end, N, -N or @TIME (as consume --offset)")
	f.StringSliceVar(&topics, "topics", nil, "seek these topics, all their partitions (default: the topics the group committed to)")
	f.BoolVar(&dryRun, "dry-run", false, "print the new offsets without committing them")
	addFormatFlag(cmd, &format)
	return cmd
}

type groupStatusJSON struct {
	Group string  `json:"group"`
	Error *string `json:"error"`
}

func (c *cli) groupDeleteCommand() *cobra.Command {
	var format outputFormat
	cmd := &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Long:    `Delete consumer groups, which must have no active members, with their committed offsets.`,
		Example: `  sluice group delete billing`,
		Args:    minArgs(1, "at least one group name"),
		RunE: func(cmd *cobra.Command, groups []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, groups...)
			if err != nil {
				return c.explain(err)
			}
			fails := &failures{errOut: c.errOut}
			rows := make([]groupStatusJSON, 0, len(groups))
			codes := make([]string, 0, len(groups))
			for _, g := range groups {
				r, ok := resps[g]
				if !ok {
					r.Err = errors.New("the broker did not answer")
				}
				if r.Err != nil {
					fails.add(groupError(g, r.Err, r.ErrMessage))
				}
				rows = append(rows, groupStatusJSON{Group: g, Error: errorString(r.Err, r.ErrMessage)})
				codes = append(codes, errorCode(r.Err))
			}
			if format == formatJSON {
				if err := writeJSON(c.out, rows); err != nil {
					return err
				}
				return fails.result()
			}
			tb := newTable(c.out, "GROUP", "STATUS")
			for i, r := range rows {
				tb.row(r.Group, codes[i])
			}
			tb.flush()
			return fails.result()
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
