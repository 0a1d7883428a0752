package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicemq/sluice/engine/record"
)

// StoredBatch is one batch of a replica's log as its segment files hold it.
type StoredBatch struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32
	CRC         uint32
	Values      [][]byte // the records' values (uncompressed batches only; nil otherwise)
}

// partitionDir is where a node keeps one partition: <log.dirs>/<topic>-<partition> (Kafka's layout).
func (n *Node) partitionDir(tp TP) string {
	return filepath.Join(n.Dir, "data", tp.Topic+"-"+strconv.Itoa(int(tp.Partition)))
}

// ReadLog reads a replica's batches from its segment files, read-only, without the broker: the
// process may be running, paused or gone. It stops at the first batch that is not whole or whose
// CRC does not match (the tail a crash can leave, which the broker truncates on recovery).
func ReadLog(dir string) ([]StoredBatch, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			segs = append(segs, e.Name())
		}
	}
	slices.Sort(segs) // 20-digit zero-padded base offsets sort as numbers
	var out []StoredBatch
	for _, s := range segs {
		b, err := os.ReadFile(filepath.Join(dir, s))
		if err != nil {
			return nil, err
		}
		for len(b) >= record.HeaderSize {
			batch := record.Batch(b)
			if batch.BatchLength() <= 0 || batch.Size() > len(b) || batch.ComputeCRC() != batch.CRC() {
				break
			}
			sb := StoredBatch{BaseOffset: batch.BaseOffset(), LastOffset: batch.LastOffset(),
				LeaderEpoch: batch.PartitionLeaderEpoch(), CRC: batch.CRC()}
			if batch.Compression() == 0 {
				sb.Values = recordValues(batch.Records(), int(batch.RecordCount()))
			}
			out = append(out, sb)
			b = b[batch.Size():]
		}
	}
	return out, nil
}

// recordValues decodes the values of n uncompressed records; a malformed record ends the list.
func recordValues(b []byte, n int) [][]byte {
	var vals [][]byte
	for range n {
		length, k := varint(b)
		if k <= 0 || length < 0 || int(length) > len(b)-k {
			return vals
		}
		rec := b[k : k+int(length)]
		b = b[k+int(length):]
		rec = rec[1:] // attributes
		for range 2 { // timestamp delta, offset delta
			_, k := varint(rec)
			if k <= 0 {
				return vals
			}
			rec = rec[k:]
		}
		keyLen, k := varint(rec)
		if k <= 0 {
			return vals
		}
		rec = rec[k+max(int(keyLen), 0):]
		valLen, k := varint(rec)
		if k <= 0 || int(valLen) > len(rec)-k {
			return vals
		}
		if valLen < 0 {
			vals = append(vals, nil)
			continue
		}
		vals = append(vals, rec[k:k+int(valLen)])
	}
	return vals
}

// varint reads a zig-zag varint; k ≤ 0 when b does not hold one.
func varint(b []byte) (int64, int) {
	var ux uint64
	for i := 0; i < len(b) && i < 10; i++ {
		ux |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return int64(ux>>1) ^ -int64(ux&1), i + 1
		}
	}
	return 0, 0
}

// Divergence compares replicas' logs of one partition up to hw (exclusive): every replica must
// hold the same batches, at the same offsets, with the same leader epochs and CRCs. It returns a
// description of the first difference, or "" when they agree.
func Divergence(hw int64, logs map[int32][]StoredBatch) string {
	ids := make([]int32, 0, len(logs))
	for id := range logs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	prefix := func(l []StoredBatch) []StoredBatch {
		i := 0
		for i < len(l) && l[i].BaseOffset < hw {
			i++
		}
		return l[:i]
	}
	if len(ids) == 0 {
		return ""
	}
	ref := prefix(logs[ids[0]])
	if n := len(ref); hw > 0 && (n == 0 || ref[n-1].LastOffset < hw-1) {
		return fmt.Sprintf("node %d holds offsets below %d only up to %d", ids[0], hw, lastOffset(ref))
	}
	for _, id := range ids[1:] {
		l := prefix(logs[id])
		for i := range max(len(l), len(ref)) {
			if i >= len(l) || i >= len(ref) {
				return fmt.Sprintf("below high watermark %d node %d has %d batches, node %d has %d", hw, ids[0], len(ref), id, len(l))
			}
			a, b := ref[i], l[i]
			if a.BaseOffset != b.BaseOffset || a.LastOffset != b.LastOffset || a.LeaderEpoch != b.LeaderEpoch || a.CRC != b.CRC {
				return fmt.Sprintf("batch %d: node %d has offsets %d-%d epoch %d crc %08x, node %d has %d-%d epoch %d crc %08x",
					i, ids[0], a.BaseOffset, a.LastOffset, a.LeaderEpoch, a.CRC, id, b.BaseOffset, b.LastOffset, b.LeaderEpoch, b.CRC)
			}
		}
	}
	return ""
}

func lastOffset(l []StoredBatch) int64 {
	if len(l) == 0 {
		return -1
	}
	return l[len(l)-1].LastOffset
}
