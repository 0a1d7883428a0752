// Package harness drives any Kafka-protocol broker with real franz-go clients
// and reports how fast it went and whether it kept its promise.
//
// # What it owns
//
//   - Workloads (workload.go): YAML in the spirit of the OpenMessaging
//     Benchmark (OMB); OMB's own files load when they use only what is
//     implemented here (NO_KEY, no backlog phase).
//   - Targets (target.go, target_sluice.go, target_process.go): what a run
//     talks to. `sluice serve` as a process of its own (ProcessTarget: built
//     from cmd/sluice, free ports, a temporary data directory, stopped by
//     SIGTERM; its CPU and RSS read from /proc/PID apart from the clients'),
//     Sluice embedded in this process, an in-process kfake cluster, kfake in
//     blackhole mode (acknowledges produce without storing: the client-side
//     ceiling), or any external cluster by bootstrap address.
//   - Consumers join a consumer group per subscription (consumerAssignment:
//     group) or read their share of the partitions by direct assignment
//     (consumerAssignment: direct, kgo.ConsumePartitions from offset 0), which
//     needs nothing of the broker beyond Metadata, ListOffsets and Fetch.
//   - A run (run.go, topics.go, producer.go, consumer.go, meter.go,
//     sampler.go, outcome.go): topics created with kadm, consumer groups
//     settled before producers start, per-second throughput and
//     HdrHistograms of publish and end-to-end latency, a bounded drain,
//     then the checker.
//   - The checker (checker.go): a pure function from the run's operation log
//     (History) to counts of lost, duplicated, reordered and inconsistent
//     records. A run that loses or reorders records fails whatever its speed.
//   - Reports (report.go): OMB's result JSON plus Sluice's extras under the
//     "sluice" key, and kafka-producer-perf-test's summary line.
//   - Matrices (matrix.go, reference.go, suite_report.go, plot.go): many
//     short runs over partitions × acks × sizes against several targets,
//     interleaved cell by cell, after measuring the machine's sequential
//     write and loopback TCP bandwidth; a Suite JSON of every OMB result,
//     Markdown with ratios (Sluice ÷ kfake, ÷ the blackhole ceiling, ÷
//     loopback, ÷ disk) and CPU-s/GiB beside every throughput, SVG charts.
//     `make bench`.
//   - Profiles (profile.go): CPU over the measured window and heap, allocs,
//     mutex, block and goroutine profiles as it closes, from a broker
//     process's admin listener, with a pprof -top summary. `make profile`.
//   - Regression checks (benchcheck.go): go test -bench output and matrix
//     throughput as repeated samples; medians, a noise band (the widest
//     sample's distance from the median) and a Mann-Whitney U test against a
//     baseline. `make bench-check`.
//   - Scale (scale.go): idle partitions and idle connections beside a
//     measured run. `make bench-scale`.
//   - Replication (target_cluster.go, failover.go, replication_report.go):
//     a three-process cluster in KRaft-style combined mode (ClusterTarget:
//     fixed free ports, every node a voter, its CPU summed over the
//     processes), the same small matrix against it and a single node
//     interleaved and repeated, and failover timing — kill -9 a partition
//     leader under an acks=all producer, time the new leader and the write
//     stall, read everything back. `make bench-replication`.
//
// # The record value (value.go)
//
// Every value starts with a 24-byte header, big endian, followed by padding up
// to messageSize:
//
//	0..3    run id      random per run; values of other runs are "foreign"
//	4..7    producer    index of the producer in this run
//	8..15   sequence    0, 1, 2, ... per producer, in Produce call order
//	16..23  send time   ns since the run's start on the monotonic clock
//
// Producers and consumers live in this one process, so the send time needs no
// clock synchronisation; the end-to-end latency is "now minus send time".
//
// # Invariants
//
//   - A producer's sequence numbers are dense: 0..Sent-1. The checker relies
//     on this to keep one bit per record instead of a map.
//   - Each producer's operation log is appended only from kgo's promise
//     goroutine (kgo calls one client's promises serially) and each
//     consumer's only from its poll loop; the sampler and the final check
//     read them under the same per-client mutex.
//   - Every wait is bounded: consumer readiness, producer flush and the final
//     drain each have a named timeout (limits in run.go). A run never hangs
//     on a broker that stopped answering; it reports what it saw.
//   - Nothing listens except the target; kfake binds 127.0.0.1 only.
//
// # Running
//
//	go run ./cmd/sluicebench -workload harness/workloads/smoke.yaml -out results/smoke.json
//	go run ./cmd/sluicebench -workload harness/workloads/produce-only-1kb.yaml -target blackhole
//	go run ./cmd/sluicebench -workload w.yaml -brokers 127.0.0.1:9092 -broker-pid 1234
//	make bench; make profile; make bench-check; make bench-scale
//
// A machine shared with other work moves every figure: each result records
// how many cores other processes used during its measured window
// (otherCpuCores), and reports show it beside the figures.
//
// Limits live in two commented const blocks: run.go (timeouts, in-flight
// bounds) and workload.go (what a workload may ask for).
//
// Units: latencies are recorded in microseconds and reported in
// milliseconds (as OMB does); "MB" means MiB (2^20 bytes), as both OMB and
// kafka-producer-perf-test compute it.
//
// Goroutines: Run is called from one goroutine. It starts one goroutine per
// producer and per consumer, plus the sampler; all are stopped before Run
// returns.
package harness
