package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// appendRequestHeader encodes a request header: v1 when tags is nil, else v2 with tags as the raw
// tagged-field section. A nil clientID encodes the null string.
func appendRequestHeader(dst []byte, key, version int16, corr int32, clientID []byte, tags []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	if clientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xffff)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(clientID)))
		dst = append(dst, clientID...)
	}
	return append(dst, tags...)
}

func TestParseRequestHeader(t *testing.T) {
	const (
		metadata    = 3  // flexible from v9
		apiVersions = 18 // flexible from v3
		unknownKey  = 30000
	)
	body := []byte{0xb0, 0xd7}
	frame := func(key, version int16, clientID []byte, tags []byte) []byte {
		return append(appendRequestHeader(nil, key, version, 7, clientID, tags), body...)
	}
	tests := []struct {
		name     string
		frame    []byte
		wantErr  bool
		clientID []byte
		flexible bool
		bodyOff  int
	}{
		{name: "v1", frame: frame(metadata, 8, []byte("kgo"), nil), clientID: []byte("kgo"), bodyOff: 13},
		{name: "v1 null client id", frame: frame(metadata, 1, nil, nil), bodyOff: 10},
		{name: "v1 empty client id", frame: frame(metadata, 1, []byte{}, nil), clientID: []byte{}, bodyOff: 10},
		{name: "v2 no tags", frame: frame(metadata, 9, []byte("kgo"), []byte{0}), clientID: []byte("kgo"), flexible: true, bodyOff: 14},
		{name: "v2 two tags", frame: frame(metadata, 12, []byte("a"), []byte{2, 0, 1, 0xff, 5, 2, 1, 2}),
			clientID: []byte("a"), flexible: true, bodyOff: 19},
		{name: "v2 multi-byte uvarints", frame: frame(metadata, 12, nil, []byte{1, 0x80, 0x01, 0x01, 9}),
			flexible: true, bodyOff: 15},
		{name: "ApiVersions v3 is flexible", frame: frame(apiVersions, 3, []byte("x"), []byte{0}),
			clientID: []byte("x"), flexible: true, bodyOff: 12},
		{name: "ApiVersions v2 is not", frame: frame(apiVersions, 2, []byte("x"), nil), clientID: []byte("x"), bodyOff: 11},
		{name: "version above kmsg's max stays flexible", frame: frame(metadata, 99, nil, []byte{0}), flexible: true, bodyOff: 11},
		{name: "unknown key parses as v1", frame: frame(unknownKey, 5, []byte("x"), nil), clientID: []byte("x"), bodyOff: 11},
		{name: "negative key parses as v1", frame: frame(-1, 5, nil, nil), bodyOff: 10},
		{name: "negative version is not flexible", frame: frame(metadata, -1, nil, nil), bodyOff: 10},
		{name: "header only", frame: appendRequestHeader(nil, metadata, 1, 7, nil, nil), bodyOff: 10},

		{name: "empty", frame: nil, wantErr: true},
		{name: "9 bytes", frame: frame(metadata, 1, nil, nil)[:9], wantErr: true},
		{name: "client id length -2", frame: []byte{0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xfe, 'a'}, wantErr: true},
		{name: "client id past end", frame: frame(metadata, 1, []byte("kgo"), nil)[:12], wantErr: true},
		{name: "v2 missing tag section", frame: appendRequestHeader(nil, metadata, 9, 7, nil, nil), wantErr: true},
		{name: "v2 tag count past end", frame: frame(metadata, 9, nil, []byte{3})[:11], wantErr: true},
		{name: "v2 huge tag count", frame: appendRequestHeader(nil, metadata, 9, 7, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}), wantErr: true},
		{name: "v2 tag size past end", frame: appendRequestHeader(nil, metadata, 9, 7, nil, []byte{1, 0, 5, 1}), wantErr: true},
		{name: "v2 uvarint overflow", frame: appendRequestHeader(nil, metadata, 9, 7, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x1f}), wantErr: true},
		{name: "v2 uvarint unterminated", frame: appendRequestHeader(nil, metadata, 9, 7, nil, []byte{0x80, 0x80}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseRequestHeader(tt.frame)
			if tt.wantErr {
				if !errors.Is(err, errMalformedHeader) {
					t.Fatalf("err = %v, want errMalformedHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.correlationID != 7 || h.flexible != tt.flexible || h.bodyOff != tt.bodyOff ||
				!bytes.Equal(h.clientID, tt.clientID) || (h.clientID == nil) != (tt.clientID == nil) {
				t.Fatalf("got %+v, want clientID %q flexible %v bodyOff %d", h, tt.clientID, tt.flexible, tt.bodyOff)
			}
		})
	}
}

// TestFlexibleTableMatchesKmsg checks the precomputed table against kmsg for every key and
// version kmsg knows, and a few beyond.
func TestFlexibleTableMatchesKmsg(t *testing.T) {
	for key := int16(-1); key <= kmsg.MaxKey+2; key++ {
		r := kmsg.RequestForKey(key)
		for v := int16(-1); v <= 40; v++ {
			want := false
			if r != nil && v >= 0 {
				r.SetVersion(v)
				want = r.IsFlexible()
			}
			if got := isFlexibleRequest(key, v); got != want {
				t.Errorf("key %d version %d: flexible = %v, kmsg says %v", key, v, got, want)
			}
		}
	}
}

// TestParseRequestHeaderKafkaWire parses every captured client request and checks it against the
// capture's index, and that kmsg decodes the body netio hands over.
func TestParseRequestHeaderKafkaWire(t *testing.T) {
	for _, e := range loadKafkaWire(t) {
		t.Run(e.Client+"/"+e.File, func(t *testing.T) {
			h, err := parseRequestHeader(e.frame[4:])
			if err != nil {
				t.Fatal(err)
			}
			checkWireHeader(t, e, h.apiKey, h.apiVersion, h.correlationID, string(h.clientID), h.flexible)
			if (h.clientID == nil) != (e.ClientID == nil) {
				t.Errorf("client id null = %v, index says %v", h.clientID == nil, e.ClientID == nil)
			}
			req := kmsg.RequestForKey(h.apiKey)
			if req == nil {
				t.Fatalf("kmsg does not know key %d", h.apiKey)
			}
			req.SetVersion(h.apiVersion)
			if err := req.ReadFrom(e.frame[4+h.bodyOff:]); err != nil {
				t.Errorf("kmsg cannot decode the body: %v", err)
			}
		})
	}
}

func checkWireHeader(t *testing.T, e wireEntry, key, version int16, corr int32, clientID string, flexible bool) {
	t.Helper()
	wantClientID := ""
	if e.ClientID != nil {
		wantClientID = *e.ClientID
	}
	if key != e.APIKey || version != e.APIVersion || corr != e.CorrelationID || clientID != wantClientID ||
		flexible != e.Flexible || flexible != (e.RequestHeaderVersion == 2) {
		t.Errorf("got key %d v%d corr %d client %q flexible %v; index: key %d v%d corr %d client %q flexible %v header v%d",
			key, version, corr, clientID, flexible,
			e.APIKey, e.APIVersion, e.CorrelationID, wantClientID, e.Flexible, e.RequestHeaderVersion)
	}
}

// FuzzParseRequestHeader: parsing never panics or reads out of bounds, and an accepted header
// re-encodes to exactly the bytes it was parsed from. Seeds: testdata/fuzz (one real frame, size
// prefix removed, per client, API key and version in the kafka-wire captures) plus edge cases.
func FuzzParseRequestHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendRequestHeader(nil, 3, 12, 1, nil, []byte{1, 0x80, 0x01, 0x01, 9}))
	f.Add(appendRequestHeader(nil, 3, 12, 1, []byte("kgo"), []byte{0xff, 0xff, 0xff, 0xff, 0x0f}))
	f.Add(appendRequestHeader(nil, 30000, 1, 1, []byte("x"), nil))
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := parseRequestHeader(frame)
		if err != nil {
			if !errors.Is(err, errMalformedHeader) {
				t.Fatalf("error %v does not wrap errMalformedHeader", err)
			}
			return
		}
		if h.tagsOff > h.bodyOff || h.bodyOff > len(frame) || (!h.flexible && h.tagsOff != h.bodyOff) {
			t.Fatalf("offsets out of order: tags %d body %d len %d", h.tagsOff, h.bodyOff, len(frame))
		}
		if h.flexible != isFlexibleRequest(h.apiKey, h.apiVersion) {
			t.Fatalf("flexible = %v for key %d v%d", h.flexible, h.apiKey, h.apiVersion)
		}
		var tags []byte
		if h.flexible {
			tags = frame[h.tagsOff:h.bodyOff]
		}
		if re := appendRequestHeader(nil, h.apiKey, h.apiVersion, h.correlationID, h.clientID, tags); !bytes.Equal(re, frame[:h.bodyOff]) {
			t.Fatalf("re-encoded header %x differs from input %x", re, frame[:h.bodyOff])
		}
	})
}

// BenchmarkParseRequestHeader: expected 0 allocs/op.
func BenchmarkParseRequestHeader(b *testing.B) {
	frame := appendRequestHeader(nil, 1, 12, 42, []byte("kbench-consumer"), []byte{0})
	frame = append(frame, make([]byte, 64)...)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := parseRequestHeader(frame); err != nil {
			b.Fatal(err)
		}
	}
}
