package meta

// Benchmarks of the pure core at metadata scale. ApplyBatch copies the image's maps once per batch
// (O(topics + brokers)) and each touched topic once; FenceBroker validation scans every partition.
// Run: go test -run XXX -bench . -benchmem ./engine/meta/

import (
	"fmt"
	"testing"
)

// benchImage is 6 brokers and topics of 30 partitions at RF 3, partitions in all.
func benchImage(b *testing.B, partitions int) *Image {
	img := newTestImage(b, 6)
	for i := 0; i < partitions/30; i++ {
		name := fmt.Sprintf("topic-%04d", i)
		rec, err := CreateTopicRecord(img, name, testTopicID(name), 30, 3, nil)
		if err != nil {
			b.Fatal(err)
		}
		if img, err = Apply(img, rec); err != nil {
			b.Fatal(err)
		}
	}
	return img
}

// BenchmarkFenceBroker decides and applies the fencing of one broker: about half the partitions
// change (the broker is in the ISR of every partition it holds).
func BenchmarkFenceBroker(b *testing.B) {
	for _, n := range []int{300, 3000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			img := benchImage(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ApplyBatch(img, FenceBrokerRecords(img, 1, Policy{})); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChangeISR applies one leader ISR change, the most frequent record in a running cluster.
func BenchmarkChangeISR(b *testing.B) {
	for _, n := range []int{300, 3000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			img := benchImage(b, n)
			p := img.Partition("topic-0000", 0)
			rec := ChangeISR{TopicID: img.Topic("topic-0000").ID, BrokerID: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{p.Leader}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := Apply(img, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
