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
// broker.session.timeout.ms; it applies every image (SetPeers, EnsureTopic, SetPartitionState);
// it commits ISR changes as ChangeISR records; CreateTopics, CreatePartitions, Metadata,
// DescribeCluster and InitProducerId (producer-id blocks) go through the image. Decisions run on
// the active controller's link, reached through ControllerLinkConfig.Route: in-process only until
// a forwarding RPC exists. Its loops take no broker lock while waiting on Raft.
//
// Goroutines: ServeKafka runs on a netio event loop and must not block; requests that wait
// (long-poll Fetch, durable or acks=all Produce) park on their own goroutine and answer through
// the ResponseWriter later. Topic creation and deletion serialize on Broker.mu; per-partition
// appends (produce, a follower's fetcher) and role changes serialize on partition.mu, assignments
// on partition.stateMu; reads take no lock. Each followed leader has a fetcher goroutine; a ticker
// checks the ISRs of the partitions this broker leads; ISR proposals run on their own goroutines.
// Lock order: Broker.mu, partition.stateMu, partition.mu, replication.mu; nothing waits for a
// fetcher to stop while holding a partition lock.
//
// Invariants: per-partition errors never fail a whole request; every advertised API version is
// decoded by kmsg and answered in that version; unknown keys and versions outside the advertised
// range close the connection, except ApiVersions, which answers UNSUPPORTED_VERSION in v0 (KIP-511).
// Produce v3+ is served from netio's read buffer in place (ServesInPlace): nothing on its path may
// keep request bytes once ServeKafka returns.
package broker
