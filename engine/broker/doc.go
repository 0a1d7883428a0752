// Package broker serves the Kafka APIs of one Sluice broker: one file per API key
// (00_produce.go, 01_fetch.go, …), each opening with the versions it serves and where it differs
// from Kafka. It implements netio.Handler (the only thing it knows of the network: a request's
// header and body in, response bytes and file regions out) and owns the topics, their partitions'
// logs (engine/log) and the topic metadata file.
//
// Replication (replication.go, engine/replica): a partition assigned with SetPartitionState is
// led by one broker and copied by the others' fetchers; one never assigned is this broker's alone,
// as on a single node. Assignments and peer addresses come from outside, ISR changes go out
// through an ISRChanger.
//
// Controller (controller.go): AttachController links the broker to a meta.Controller. The link
// registers the broker and heartbeats; on the active controller it fences brokers past
// broker.session.timeout.ms and completes partition reassignments; it applies every image
// (SetPeers, topics with the controller's ids and configs, deletions, SetPartitionState for every
// partition, so a broker never serves one it holds no replica of); it commits ISR changes as
// ChangeISR records; CreateTopics, CreatePartitions, Metadata (with auto-creation),
// DescribeCluster, InitProducerId (producer-id blocks), DeleteTopics, topic AlterConfigs and
// IncrementalAlterConfigs, ElectLeaders and partition reassignments go through the image
// (controller_ops.go). Decisions run on the active controller's link, reached through
// ControllerLinkConfig.Route in-process, or forwarded to its Kafka listener (controller_rpc.go).
// Its loops take no broker lock while waiting on Raft.
//
// Metrics (metrics*.go): the Broker is a prometheus.Collector. The request path only adds to
// atomics (per-topic bytes and records, per-API latency buckets); Collect reads them, the
// partitions' replica state and the group coordinator's store when scraped, on the scraper's
// goroutine, taking no broker lock but each led partition's replica mutex for a moment.
//
// Consumer groups (groups.go, engine/group): on a single node the coordinator owns every group and
// writes to its pebble store directly. With a controller attached (offsets_topic.go) a group
// belongs to a partition of the internal __consumer_offsets topic, created through the controller
// on the first FindCoordinator: the partition's leader coordinates it, its writes are appended to
// the partition and answered once the high watermark passes them, and every replica's applier
// goroutine applies the partition to its own store up to the high watermark, loading the groups
// when it becomes leader and unloading them when it stops leading.
//
// Goroutines: ServeKafka runs on a netio event loop and must not block; requests that wait
// (long-poll Fetch, durable or acks=all Produce) park on their own goroutine and answer through
// the ResponseWriter later. Topic creation and deletion serialize on Broker.mu; per-partition
// appends (produce, a follower's fetcher) and role changes serialize on partition.mu, assignments
// on partition.stateMu; reads take no lock. Each followed leader has a fetcher goroutine; a ticker
// checks the ISRs of the partitions this broker leads; ISR proposals run on their own goroutines;
// one offsets applier per broker in cluster mode. Lock order: Broker.mu, partition.stateMu,
// partition.mu, replication.mu; a group's lock comes before partition.mu (the replicated journal
// appends under it) and offsetsReplication.mu is taken last; nothing waits for a fetcher to stop
// while holding a partition lock, and the applier answers writes holding no lock.
//
// Invariants: per-partition errors never fail a whole request; every advertised API version is
// decoded by kmsg and answered in that version; unknown keys and versions outside the advertised
// range close the connection, except ApiVersions, which answers UNSUPPORTED_VERSION in v0 (KIP-511).
// Produce v3+ is served from netio's read buffer in place (ServesInPlace): nothing on its path may
// keep request bytes once ServeKafka returns. A Produce v3+ frame of 1 MiB or more arriving in
// pieces is served as it arrives (StreamFrame, produce_run.go): each partition is stored once its
// bytes are there, so a request whose end is malformed, or never arrives, keeps the partitions
// before it (a whole request is checked first and changes nothing when malformed).
package broker
