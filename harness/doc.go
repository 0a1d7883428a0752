// Package harness drives any Kafka-protocol broker with real franz-go clients
// and reports how fast it went and whether it kept its promise.
//
// # What it owns
//
//   - Workloads (workload.go): YAML in the spirit of the OpenMessaging
//     Benchmark (OMB); OMB's own files load when they use only what is
//     implemented here (NO_KEY, no backlog phase).
//   - Targets (target.go): what a run talks to. An in-process kfake cluster,
//     kfake in blackhole mode (acknowledges produce without storing: the
//     client-side ceiling), or any external cluster by bootstrap address.
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
