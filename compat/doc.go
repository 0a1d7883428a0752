// Package compat is the cross-client suite: it builds the sluice binary (with the race detector),
// starts `sluice serve` as a real process on 127.0.0.1 with its data in a temp dir, and drives it
// with the reference clients — franz-go, sarama, kcat (librdkafka) and kafka-python — at volume.
// Run it with `make compat` (tests carry the `compat` build tag, so `make test` skips this
// package's slow cases; the in-process client tests in engine/broker run there).
//
// Every process a test starts is stopped by its PID in t.Cleanup.
package compat
