package broker

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestProducerIDsReservedInBlocks: a single broker's producer ids come from blocks reserved in the
// topics file. The first InitProducerId of a block saves it; the rest of the block writes nothing,
// so it is still answered while writes fail (a full disk); a block used up while writes fail is
// KAFKA_STORAGE_ERROR and hands out nothing; after a restart ids start past every id reserved
// before, so none is handed out twice.
func TestProducerIDsReservedInBlocks(t *testing.T) {
	dir := t.TempDir()
	open := func() *Broker {
		cfg := DefaultConfig()
		cfg.LogDir = dir
		cfg.Logger = nil
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	initID := func(b *Broker) (int64, int16) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp := handleInitProducerID(b, nil, req).(*kmsg.InitProducerIDResponse)
		return resp.ProducerID, resp.ErrorCode
	}
	saves, failing := 0, false
	write := writeFileAtomic
	writeFileAtomic = func(path string, body []byte) error {
		if filepath.Dir(path) == dir {
			saves++
			if failing {
				return syscall.ENOSPC
			}
		}
		return write(path, body)
	}
	t.Cleanup(func() { writeFileAtomic = write })

	b := open()
	saves = 0
	for want := int64(0); want < 3; want++ {
		if id, code := initID(b); code != 0 || id != want {
			t.Fatalf("InitProducerId: id %d error %d, want id %d", id, code, want)
		}
	}
	if saves != 1 {
		t.Fatalf("3 InitProducerIds saved the topics file %d times, want once (one block)", saves)
	}
	failing = true
	for want := int64(3); want < producerIDBlockSize; want++ {
		if id, code := initID(b); code != 0 || id != want {
			t.Fatalf("InitProducerId inside the reserved block with writes failing: id %d error %d, want id %d", id, code, want)
		}
	}
	if id, code := initID(b); code != errKafkaStorage {
		t.Fatalf("InitProducerId past the block with writes failing: id %d error %d, want error %d", id, code, errKafkaStorage)
	}
	failing = false
	if id, code := initID(b); code != 0 || id != producerIDBlockSize {
		t.Fatalf("InitProducerId once writes succeed: id %d error %d, want id %d (the refused one was not handed out)", id, code, producerIDBlockSize)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open()
	defer b.Close()
	if id, code := initID(b); code != 0 || id != 2*producerIDBlockSize {
		t.Fatalf("InitProducerId after a restart: id %d error %d, want %d (past every id reserved before)", id, code, 2*producerIDBlockSize)
	}
}
