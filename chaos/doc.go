// Package chaos is the fault-injection suite of the replicated cluster (issue 6, RELIABILITY.md):
// three `sluice serve` processes, real franz-go clients, a seeded nemesis, and the harness's
// Jepsen-style checker over everything the clients saw. Run it with `make chaos` (the test carries
// the `chaos` build tag, so `make test` does not run it); `.ci/run` runs a short one.
//
// # The cluster
//
// Each broker is a separate OS process (cmd/sluice, built with -race by default) in cluster mode:
// controller.quorum.voters, min.insync.replicas=2, default.replication.factor=3,
// broker.session.timeout.ms=3000. In front of each broker's Kafka listener and CONTROLLER (Raft)
// listener sits an embedded toxiproxy (github.com/Shopify/toxiproxy/v2, pinned at v2.12.0), and the
// broker advertises the proxies: advertised.listeners names the Kafka proxy and the node's entry in
// controller.quorum.voters the controller proxy, while listeners binds the real ports. Clients,
// replica fetchers, broker-to-controller requests and Raft all reach a node only through its
// proxies; only the targeted check below talks to a real listener.
//
// # The fault model
//
// One fault at a time, drawn from a seed (Schedule: the same seed gives the same plan; the victim
// is resolved when the step runs, usually the current leader of a chosen partition, otherwise a
// chosen node), held 11–17 s (long enough for a new leader even when the victim is the active
// controller), then healed, then 1–4 s quiet:
//
//   - kill: SIGKILL (kill -9), restarted after the hold: unflushed page-cache data survives, as
//     when a process, not the machine, dies;
//   - pause: SIGSTOP, SIGCONT after the hold: the node keeps its sockets and answers nothing, a
//     full isolation that it does not notice;
//   - cut: every link into the node breaks, either refused (its proxies closed: connections reset)
//     or black-holed (the proxies accept but pass no byte: timeouts). Proxies are per destination,
//     so a cut is inbound only: the victim still reaches the others (its heartbeats, AlterPartition
//     and Raft messages it sends, and its fetches from other leaders, get through). Jepsen calls
//     this an asymmetric partition. What follows depends on the victim's place in Raft: as the
//     Raft leader (the active controller) it keeps its quorum and its leaderships while its
//     followers cannot fetch, so its partitions stall until the heal; as a Raft follower it stops
//     hearing the Raft leader, loses track of the controller, cannot heartbeat, and is fenced:
//     its partitions get new leaders as after a kill;
//   - restart: SIGTERM (a clean exit, status 0, is required), started again after the hold.
//
// Not modelled: disk faults, clock faults, faults of more than one node at once, symmetric
// partitions other than SIGSTOP, membership changes.
//
// # The workload
//
// A topic with several partitions (RF=3, min.insync.replicas=2) written by idempotent acks=all
// producers and read by a two-member consumer group that commits after every poll; a second topic
// written by an acks=all producer without idempotence (one request in flight), where duplicates are
// expected and counted. Every record's value names its producer and sequence; records go to
// partitions round-robin, so each producer's records in one partition must appear in sequence
// order. After the last fault the producers stop and must resolve every record (acknowledged or
// failed) within 90 s; a fresh consumer then reads every partition from offset 0 to its end.
//
// # What it checks (harness.Check, RELIABILITY.md's vocabulary)
//
//   - acknowledged records lost: 0; reordered within a partition: 0; inconsistent offsets (one
//     offset, two records; or a read that disagrees with the acknowledged offset): 0; phantoms: 0;
//   - duplicates: 0 with idempotence; without it they are counted and shown, not failures;
//   - committed consumer offsets going backwards per group and partition: 0;
//   - liveness: after each heal every ISR is full again within 60 s, after each kill, pause or
//     restart of a leader its partitions have a new leader within the hold, no broker exits on its
//     own, no record is left unresolved;
//   - targeted: (a) a leader cut off from everyone cannot acknowledge an acks=all Produce sent to
//     its real listener (a minority of one under min.insync.replicas=2); (b) that leader, paused
//     until another is elected and then healed, truncates the record it appended alone (its
//     divergent tail) and ends identical to the others; (c) at the end of every run all replicas of
//     every partition hold identical batches (offsets, leader epochs, CRCs) below the high
//     watermark, read from the segment files after a clean stop; (d) every broker names the same
//     coordinator for the consumer group (else members that asked different brokers form
//     separate groups of one name, and committed offsets split between them).
//
// It measures the time to a new leader (from the fault to the Metadata that names other leaders
// for every partition the victim led; p50 and max) and the time to a full ISR after each heal.
// The figures print at the end and go to results/chaos.md and results/chaos.json (the last run:
// seed, commit, schedule as run, figures, failures).
//
// # Replays
//
// A run prints the command that replays it (the seed fixes the plan; timing still varies, so a
// replay reproduces a finding often, not always). A finding worth keeping becomes a short
// deterministic scenario beside TestChaos: TestReplayRestartedLeader replays the restarted leader
// that acknowledged records alone before its assignment came back (seed 7).
//
// Goroutines: Run is called from one goroutine (the nemesis); producers, consumer-group members
// and kgo's promise goroutines append to a topic's log under its mutex. Every process the suite
// starts is stopped by its PID (Cluster.Close), and everything binds 127.0.0.1.
package chaos
