package record

import "encoding/binary"

// TimestampAt returns the timestamp (ms) of the record at offset in b, without allocating: for a
// LogAppendTime batch its max timestamp (the broker's stamp, which every record carries); for a
// compressed batch its base timestamp, the first record's, since the broker never decompresses —
// so for a record further into the batch the answer may be earlier than its own, by at most the
// batch's time span; otherwise the record's own, found by walking the record headers. ok is false
// when offset lies outside b or the body is malformed. A compressed or LogAppendTime b needs only
// its HeaderSize bytes; any other must be whole and have passed Validate or ValidateStored.
func (b Batch) TimestampAt(offset int64) (timestampMs int64, ok bool) {
	if offset < b.BaseOffset() || offset > b.LastOffset() {
		return 0, false
	}
	switch {
	case b.LogAppendTime():
		return b.MaxTimestamp(), true
	case b.Compression() != CompressionNone:
		return b.BaseTimestamp(), true
	}
	want := offset - b.BaseOffset()
	body := b.Records()
	for len(body) > 0 {
		// length varint, attributes int8, timestampDelta varlong, offsetDelta varint, …
		length, k := binary.Varint(body)
		if k <= 0 || length <= 1 || length > int64(len(body)-k) {
			return 0, false
		}
		rec := body[k : k+int(length)]
		body = body[k+int(length):]
		td, k1 := binary.Varint(rec[1:])
		if k1 <= 0 {
			return 0, false
		}
		od, k2 := binary.Varint(rec[1+k1:])
		if k2 <= 0 {
			return 0, false
		}
		if od == want {
			return b.BaseTimestamp() + td, true
		}
	}
	return 0, false
}
