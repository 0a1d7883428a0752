package harness

import "testing"

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []header{
		{},
		{runID: 1, producer: 2, seq: 3, sendNs: 4},
		{runID: ^uint32(0), producer: ^uint32(0), seq: ^uint64(0), sendNs: -1},
	} {
		v := make([]byte, headerBytes+8)
		putHeader(v, h)
		got, ok := readHeader(v)
		if !ok || got != h {
			t.Errorf("round trip of %+v gave %+v (ok %v)", h, got, ok)
		}
	}
	if _, ok := readHeader(make([]byte, headerBytes-1)); ok {
		t.Error("a value shorter than the header decoded")
	}
}

func TestPadding(t *testing.T) {
	a, b := makePadding(1000, nil, 1), makePadding(1000, nil, 1)
	if string(a) != string(b) {
		t.Error("random padding differs between calls: compression results would vary by chance")
	}
	if p := makePadding(10, []byte("abc"), 1); string(p) != "abcabcabca" {
		t.Errorf("payload padding %q", p)
	}
	if p := makePadding(0, nil, 1); len(p) != 0 {
		t.Errorf("empty padding has %d bytes", len(p))
	}
}
