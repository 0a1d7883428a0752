package broker

import "encoding/binary"

// wireReader walks a request body in place for the hand-written hot paths (Produce). Errors are
// sticky: after the first short read every accessor returns zero values and ok() is false, so a
// decoder checks once at the end. Nothing it returns is copied: slices alias the body.
type wireReader struct {
	b        []byte
	flexible bool
	bad      bool
}

func (r *wireReader) ok() bool { return !r.bad }

func (r *wireReader) take(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *wireReader) int16() int16 {
	if p := r.take(2); p != nil {
		return int16(binary.BigEndian.Uint16(p))
	}
	return 0
}

func (r *wireReader) int32() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (r *wireReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

// length reads a (compact) length or count: -1 means null.
func (r *wireReader) length(compact bool, wide bool) int {
	if compact {
		v := r.uvarint()
		if v > uint64(len(r.b))+1 {
			r.bad = true
			return 0
		}
		return int(v) - 1
	}
	var n int
	if wide {
		n = int(r.int32())
	} else {
		n = int(r.int16())
	}
	if n < -1 || n > len(r.b) {
		r.bad = true
		return 0
	}
	return n
}

// arrayLen reads the count of a non-nullable array: null (-1) is malformed, as in Kafka's
// generated decoders, and so is a count larger than the remaining bytes (every element takes at
// least one byte), which bounds every loop by the bytes actually received.
func (r *wireReader) arrayLen() int {
	n := r.length(r.flexible, true)
	if n < 0 {
		r.bad = true
		return 0
	}
	return n
}

func (r *wireReader) string() []byte {
	n := r.length(r.flexible, false)
	if n < 0 {
		r.bad = true // a non-nullable string was null
		return nil
	}
	return r.take(n)
}

// nullableString returns the bytes and whether the string was present.
func (r *wireReader) nullableString() ([]byte, bool) {
	n := r.length(r.flexible, false)
	if n < 0 {
		return nil, false
	}
	return r.take(n), true
}

// nullableBytes reads a (compact) nullable byte string; null is returned as nil.
func (r *wireReader) nullableBytes() []byte {
	n := r.length(r.flexible, true)
	if n < 0 {
		return nil
	}
	return r.take(n)
}

// skipTags skips a tagged-field section (flexible versions only).
func (r *wireReader) skipTags() {
	if !r.flexible {
		return
	}
	for n := r.uvarint(); n > 0 && !r.bad; n-- {
		r.uvarint() // tag
		r.take(int(min(r.uvarint(), uint64(len(r.b)+1))))
	}
}

// wireWriter appends a response body for the hand-written hot paths.
type wireWriter struct {
	b        []byte
	flexible bool
}

func (w *wireWriter) int16(x int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(x)) }
func (w *wireWriter) int32(x int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(x)) }
func (w *wireWriter) int64(x int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(x)) }

func (w *wireWriter) arrayLen(n int) {
	if w.flexible {
		w.b = binary.AppendUvarint(w.b, uint64(n)+1)
	} else {
		w.int32(int32(n))
	}
}

func (w *wireWriter) string(s []byte) {
	if w.flexible {
		w.b = binary.AppendUvarint(w.b, uint64(len(s))+1)
	} else {
		w.int16(int16(len(s)))
	}
	w.b = append(w.b, s...)
}

func (w *wireWriter) nullableString(s string, present bool) {
	switch {
	case !present && w.flexible:
		w.b = append(w.b, 0)
	case !present:
		w.int16(-1)
	case w.flexible:
		w.b = binary.AppendUvarint(w.b, uint64(len(s))+1)
		w.b = append(w.b, s...)
	default:
		w.int16(int16(len(s)))
		w.b = append(w.b, s...)
	}
}

func (w *wireWriter) tags() {
	if w.flexible {
		w.b = append(w.b, 0)
	}
}
