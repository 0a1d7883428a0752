package main

// sluice cluster: info (id, controller, brokers), health and elect-leaders (cli_reassign.go).

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
)

func (c *cli) clusterCommand() *cobra.Command {
	cmd := parentCommand("cluster", "Show the cluster's brokers and health", "")
	cmd.AddCommand(c.clusterInfoCommand(), c.clusterHealthCommand(), c.clusterElectLeadersCommand())
	return cmd
}

type clusterInfoJSON struct {
	ClusterID  string              `json:"cluster_id"`
	Controller int32               `json:"controller"`
	Brokers    []clusterBrokerJSON `json:"brokers"`
	Topics     int                 `json:"topics"`
	Partitions int                 `json:"partitions"`
}

type clusterBrokerJSON struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack"`
}

func (c *cli) clusterInfoCommand() *cobra.Command {
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the cluster id, the controller, the brokers and how many topics there are",
		Long: `Show the cluster id, the controller, the brokers (the controller marked with *)
and how many topics and partitions there are, internal ones included.`,
		Example: `  sluice cluster info
  sluice cluster info --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			md, err := adm.Metadata(ctx)
			if err != nil {
				return c.explain(err)
			}
			info := clusterInfoJSON{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []clusterBrokerJSON{}, Topics: len(md.Topics)}
			for _, td := range md.Topics {
				info.Partitions += len(td.Partitions)
			}
			for _, b := range md.Brokers {
				info.Brokers = append(info.Brokers, clusterBrokerJSON{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
			}
			sort.Slice(info.Brokers, func(i, j int) bool { return info.Brokers[i].NodeID < info.Brokers[j].NodeID })
			if format == formatJSON {
				return writeJSON(c.out, info)
			}
			section(c.out, true, "CLUSTER")
			tb := newTable(c.out)
			tb.row("ID", orDash(info.ClusterID))
			tb.row("CONTROLLER", info.Controller)
			tb.row("TOPICS", info.Topics)
			tb.row("PARTITIONS", info.Partitions)
			tb.flush()
			section(c.out, false, "BROKERS")
			tb = newTable(c.out, "ID", "HOST", "PORT", "RACK")
			for _, b := range info.Brokers {
				id := fmt.Sprint(b.NodeID)
				if b.NodeID == info.Controller {
					id += "*"
				}
				rack := "-"
				if b.Rack != nil {
					rack = *b.Rack
				}
				tb.row(id, b.Host, b.Port, rack)
			}
			tb.flush()
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

type clusterHealthJSON struct {
	Healthy                   bool     `json:"healthy"`
	UnhealthyReasons          []string `json:"unhealthy_reasons"`
	Controller                int32    `json:"controller"`
	Brokers                   []int32  `json:"brokers"`
	BrokersDown               []int32  `json:"brokers_down"`
	LeaderlessPartitions      []string `json:"leaderless_partitions"`
	UnderReplicatedPartitions []string `json:"under_replicated_partitions"`
}

func (c *cli) clusterHealthCommand() *cobra.Command {
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that every broker answers and every partition has a leader and a full ISR",
		Long: `Check the cluster's health: every broker in the metadata answers ApiVersions, there is
a controller, every partition has a leader, and every partition's ISR holds all its
replicas. Partitions are named TOPIC/PARTITION.

Exit status 1 when the cluster is unhealthy (the reasons go to stderr too), so
scripts and readiness probes can use it.`,
		Example: `  sluice cluster health
  sluice cluster health --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, adm, done, err := c.adminRequest(cmd)
			if err != nil {
				return err
			}
			defer done()
			md, err := adm.Metadata(ctx)
			if err != nil {
				return c.explain(err)
			}
			versions, err := adm.ApiVersions(ctx)
			if err != nil {
				return c.explain(err)
			}
			h := clusterHealthJSON{Controller: md.Controller, UnhealthyReasons: []string{}, Brokers: []int32{},
				BrokersDown: []int32{}, LeaderlessPartitions: []string{}, UnderReplicatedPartitions: []string{}}
			for _, b := range md.Brokers {
				h.Brokers = append(h.Brokers, b.NodeID)
				if v, ok := versions[b.NodeID]; !ok || v.Err != nil {
					h.BrokersDown = append(h.BrokersDown, b.NodeID)
				}
			}
			sort.Slice(h.Brokers, func(i, j int) bool { return h.Brokers[i] < h.Brokers[j] })
			sort.Slice(h.BrokersDown, func(i, j int) bool { return h.BrokersDown[i] < h.BrokersDown[j] })
			for _, td := range md.Topics.Sorted() {
				for _, p := range td.Partitions.Sorted() {
					name := fmt.Sprintf("%s/%d", p.Topic, p.Partition)
					if p.Leader < 0 || errors.Is(p.Err, kerr.LeaderNotAvailable) {
						h.LeaderlessPartitions = append(h.LeaderlessPartitions, name)
					}
					if len(p.ISR) < len(p.Replicas) {
						h.UnderReplicatedPartitions = append(h.UnderReplicatedPartitions, name)
					}
				}
			}
			if md.Controller < 0 {
				h.UnhealthyReasons = append(h.UnhealthyReasons, "no controller")
			}
			if n := len(h.BrokersDown); n > 0 {
				h.UnhealthyReasons = append(h.UnhealthyReasons, fmt.Sprintf("%d brokers down", n))
			}
			if n := len(h.LeaderlessPartitions); n > 0 {
				h.UnhealthyReasons = append(h.UnhealthyReasons, fmt.Sprintf("%d leaderless partitions", n))
			}
			if n := len(h.UnderReplicatedPartitions); n > 0 {
				h.UnhealthyReasons = append(h.UnhealthyReasons, fmt.Sprintf("%d under-replicated partitions", n))
			}
			h.Healthy = len(h.UnhealthyReasons) == 0
			if format == formatJSON {
				if err := writeJSON(c.out, h); err != nil {
					return err
				}
			} else {
				tb := newTable(c.out)
				tb.row("HEALTHY", h.Healthy)
				if !h.Healthy {
					tb.row("UNHEALTHY-REASONS", strings.Join(h.UnhealthyReasons, ", "))
				}
				tb.row("CONTROLLER", h.Controller)
				tb.row("BROKERS", int32List(h.Brokers))
				tb.row("BROKERS-DOWN", int32List(h.BrokersDown))
				tb.row("LEADERLESS-PARTITIONS", partitionList(h.LeaderlessPartitions))
				tb.row("UNDER-REPLICATED-PARTITIONS", partitionList(h.UnderReplicatedPartitions))
				tb.flush()
			}
			if !h.Healthy {
				fmt.Fprintf(c.errOut, "sluice: the cluster is unhealthy: %s\n", strings.Join(h.UnhealthyReasons, ", "))
				return exitCode(exitFail)
			}
			return nil
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// partitionList prints a count and, when there are few, the partitions.
func partitionList(ps []string) string {
	const shown = 10
	switch {
	case len(ps) == 0:
		return "0"
	case len(ps) <= shown:
		return fmt.Sprintf("%d (%s)", len(ps), strings.Join(ps, " "))
	}
	return fmt.Sprintf("%d (%s ...)", len(ps), strings.Join(ps[:shown], " "))
}
