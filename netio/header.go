package netio

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request header decoding. kmsg has no request-header parser, and the header is on every request,
// so it is hand-written: bounds-checked, no allocation (the client id is returned as a sub-slice
// of the frame). Fuzzed by FuzzParseRequestHeader.

// errMalformedHeader is wrapped by every parseRequestHeader error.
var errMalformedHeader = errors.New("netio: malformed request header")

// requestHeader is a decoded request header v1 or v2. Slices alias the frame.
type requestHeader struct {
	apiKey        int16
	apiVersion    int16
	correlationID int32
	clientID      []byte // nil when the client id is null (length -1)
	flexible      bool   // header v2: a tagged-field section follows the client id
	tagsOff       int    // offset of the tagged-field section (== bodyOff unless flexible)
	bodyOff       int    // offset of the request body in the frame
}

// apiKeyApiVersions is ApiVersions, whose response header is always v0 (KIP-511).
const apiKeyApiVersions = 18

// firstFlexibleVersion[key] is the lowest version of key that uses request header v2, or -1 if no
// version does. Built once from kmsg so netio follows kmsg's (Kafka's) definitions exactly
// without allocating a kmsg request per frame.
var firstFlexibleVersion = buildFirstFlexibleVersions()

func buildFirstFlexibleVersions() [kmsg.MaxKey + 1]int16 {
	var t [kmsg.MaxKey + 1]int16
	for key := range t {
		t[key] = -1
		r := kmsg.RequestForKey(int16(key))
		if r == nil {
			continue
		}
		// kmsg's IsFlexible is "Version >= N", so the first flexible version is the whole answer.
		for v := int16(0); v <= r.MaxVersion(); v++ {
			r.SetVersion(v)
			if r.IsFlexible() {
				t[key] = v
				break
			}
		}
	}
	return t
}

// isFlexibleRequest reports whether (key, version) uses request header v2. Unknown keys use v1:
// the handler answers or closes, and v1 is a prefix of v2, so the body offset is at worst off by
// the tag section for a key netio does not know.
func isFlexibleRequest(key, version int16) bool {
	if key < 0 || int(key) >= len(firstFlexibleVersion) {
		return false
	}
	first := firstFlexibleVersion[key]
	return first >= 0 && version >= first
}

// parseRequestHeader decodes the request header at the start of frame (the bytes after the size
// prefix). It never reads outside frame and never allocates, except for the error on a malformed
// header.
func parseRequestHeader(frame []byte) (h requestHeader, err error) {
	// Fixed part: api key [0:2], api version [2:4], correlation id [4:8], client id length [8:10].
	if len(frame) < requestHeaderBytesMin {
		return h, fmt.Errorf("%w: %d bytes, need at least %d", errMalformedHeader, len(frame), requestHeaderBytesMin)
	}
	h.apiKey = int16(binary.BigEndian.Uint16(frame[0:2]))
	h.apiVersion = int16(binary.BigEndian.Uint16(frame[2:4]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:8]))
	off := requestHeaderBytesMin
	switch n := int16(binary.BigEndian.Uint16(frame[8:10])); {
	case n == -1: // null client id
	case n < -1:
		return h, fmt.Errorf("%w: client id length %d", errMalformedHeader, n)
	case int(n) > len(frame)-off:
		return h, fmt.Errorf("%w: client id length %d, %d bytes left", errMalformedHeader, n, len(frame)-off)
	default:
		h.clientID = frame[off : off+int(n) : off+int(n)]
		off += int(n)
	}
	h.tagsOff = off
	h.flexible = isFlexibleRequest(h.apiKey, h.apiVersion)
	if h.flexible {
		// Request header v2 keeps the client id a non-compact string, then tagged fields.
		if off, err = skipTaggedFields(frame, off); err != nil {
			return h, err
		}
	}
	h.bodyOff = off
	return h, nil
}

// skipTaggedFields skips a tagged-field section (uvarint count, then count × (uvarint tag,
// uvarint size, size bytes)) starting at frame[off] and returns the offset after it. No header
// tags are defined, so their contents are ignored. Every field consumes at least two bytes, so the
// loop is bounded by the frame's length whatever count says.
func skipTaggedFields(frame []byte, off int) (int, error) {
	count, off, err := readUvarint32(frame, off)
	if err != nil {
		return 0, err
	}
	if uint64(count)*2 > uint64(len(frame)-off) {
		return 0, fmt.Errorf("%w: %d tagged fields in %d bytes", errMalformedHeader, count, len(frame)-off)
	}
	for range count {
		if _, off, err = readUvarint32(frame, off); err != nil { // tag
			return 0, err
		}
		var size uint32
		if size, off, err = readUvarint32(frame, off); err != nil {
			return 0, err
		}
		if uint64(size) > uint64(len(frame)-off) {
			return 0, fmt.Errorf("%w: tagged field of %d bytes, %d left", errMalformedHeader, size, len(frame)-off)
		}
		off += int(size)
	}
	return off, nil
}

// readUvarint32 reads an unsigned varint of at most 5 bytes (a Kafka uvarint is a uint32) from
// frame[off:] and returns it with the offset after it.
func readUvarint32(frame []byte, off int) (uint32, int, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		if off >= len(frame) {
			return 0, 0, fmt.Errorf("%w: truncated uvarint", errMalformedHeader)
		}
		b := frame[off]
		off++
		if i == 4 && b > 0x0f { // the fifth byte holds bits 28..31 only
			return 0, 0, fmt.Errorf("%w: uvarint overflows uint32", errMalformedHeader)
		}
		v |= uint32(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, off, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: uvarint overflows uint32", errMalformedHeader) // unreachable: i == 4 returns above
}
