package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Index file formats (big-endian, like Kafka's):
//
//	.index      relativeOffset u32, position u32          — batch starting at base+rel is at position
//	.timeindex  timestamp i64, relativeOffset u32          — every batch before base+rel has
//	                                                         maxTimestamp ≤ timestamp
//
// The time index's meaning differs slightly from Kafka's ("offset of the max timestamp so far"):
// pointing at the batch *after* the covered range makes a lookup start exactly where a qualifying
// batch can first appear, with no off-by-one batch to re-check.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// mmapIndex is one index file mapped with MAP_SHARED. The writer appends entries into the mapping
// and then publishes the count; readers load the mapping and the count atomically and look only at
// published entries, so they take no lock.
//
// Lifetime: while writable the file is preallocated to its capacity; seal trims it to the used
// size but keeps the mapping (readers never look past the count, so the unmapped tail beyond EOF
// is never touched). Inactive indexes opened from disk are mapped lazily on first lookup. Every
// mapping is released only by close, which the owning segment calls when its last reference goes.
type mmapIndex struct {
	path      string
	entrySize int

	data atomic.Pointer[[]byte] // current mapping; nil until mapped
	n    atomic.Int64           // published entries

	// reserved: bytes from the start of the file known to have disk blocks behind them. Writer
	// only. The writable file is grown sparse to its capacity; storing into a hole on a full
	// disk raises SIGBUS and kills the process, so appendEntry first allocates blocks
	// (fallocate) for the page it writes and skips the entry if it cannot.
	reserved int64

	mu       sync.Mutex // guards the fields below (lazy mapping, writer transitions)
	writable bool
	retired  [][]byte // superseded mappings, unmapped at close
	closed   bool
}

func newWritableIndex(path string, entrySize int, capacityBytes int64, entries int64) (*mmapIndex, error) {
	m := &mmapIndex{path: path, entrySize: entrySize}
	m.n.Store(entries)
	if err := m.makeWritable(capacityBytes); err != nil {
		return nil, err
	}
	return m, nil
}

// openSealedIndex opens an index written by an earlier run without mapping it. The entry count
// comes from the file size, which seal left at exactly the used bytes.
func openSealedIndex(path string, entrySize int) (*mmapIndex, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size()%int64(entrySize) != 0 {
		return nil, fmt.Errorf("index %s: size %d is not a multiple of %d", path, st.Size(), entrySize)
	}
	m := &mmapIndex{path: path, entrySize: entrySize}
	m.n.Store(st.Size() / int64(entrySize))
	return m, nil
}

// makeWritable opens the file read-write, grows it to capacity and maps it writable. Writer only.
func (m *mmapIndex) makeWritable(capacityBytes int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writable {
		return nil
	}
	capacityBytes -= capacityBytes % int64(m.entrySize)
	if used := m.n.Load() * int64(m.entrySize); capacityBytes < used {
		capacityBytes = used
	}
	f, err := os.OpenFile(m.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(capacityBytes); err != nil {
		f.Close()
		return err
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(capacityBytes), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return fmt.Errorf("mmap %s: %w", m.path, err)
	}
	// Entries are written sequentially but a page fault on a file hole would otherwise read ahead
	// (zero-fill) a large folio per fault; with hundreds of active partitions that zeroing was 73 %
	// of the broker's CPU (profiles/profile-1000p-1kb-acks1/perf.txt). Fault one page at a time.
	if err := unix.Madvise(data, unix.MADV_RANDOM); err != nil {
		unix.Munmap(data)
		f.Close()
		return fmt.Errorf("madvise %s: %w", m.path, err)
	}
	// The mapping outlives the descriptor: closing it now keeps a partition at one open file (its
	// .log), so thousands of partitions fit the default open-file limits.
	if err := f.Close(); err != nil {
		unix.Munmap(data)
		return err
	}
	if old := m.data.Load(); old != nil {
		m.retired = append(m.retired, *old)
	}
	m.data.Store(&data)
	m.reserved = m.n.Load() * int64(m.entrySize) // entries already there were written, so backed
	m.writable = true
	return nil
}

// reserve makes sure the bytes up to end have disk blocks, allocating a chunk of
// indexReserveBytes at a time (one open+fallocate per chunk, thousands of entries). It returns
// false when the file system has no room. Writer only.
func (m *mmapIndex) reserve(end int64) bool {
	if end <= m.reserved {
		return true
	}
	d := m.data.Load()
	if d == nil {
		return false
	}
	chunkEnd := min((end+indexReserveBytes-1)/indexReserveBytes*indexReserveBytes, int64(len(*d)))
	f, err := os.OpenFile(m.path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	switch err := unix.Fallocate(int(f.Fd()), 0, m.reserved, chunkEnd-m.reserved); {
	case err == nil:
		m.reserved = chunkEnd
	case errors.Is(err, unix.EOPNOTSUPP):
		m.reserved = int64(len(*d)) // nothing to be done here: trust the file system, as Kafka does
	default:
		return false
	}
	return end <= m.reserved
}

// view returns the mapping and the number of entries a reader may look at.
func (m *mmapIndex) view() ([]byte, int) {
	d := m.data.Load()
	if d == nil {
		if err := m.mapLazily(); err != nil {
			return nil, 0
		}
		d = m.data.Load()
		if d == nil {
			return nil, 0
		}
	}
	n := int(m.n.Load())
	if max := len(*d) / m.entrySize; n > max {
		n = max
	}
	return *d, n
}

func (m *mmapIndex) mapLazily() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data.Load() != nil || m.closed {
		return nil
	}
	size := int(m.n.Load()) * m.entrySize
	if size == 0 {
		empty := []byte{}
		m.data.Store(&empty)
		return nil
	}
	f, err := os.Open(m.path)
	if err != nil {
		return err
	}
	defer f.Close() // the mapping outlives the descriptor
	data, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", m.path, err)
	}
	m.data.Store(&data)
	return nil
}

func (m *mmapIndex) full() bool {
	d := m.data.Load()
	return d == nil || (int(m.n.Load())+1)*m.entrySize > len(*d)
}

// appendEntry writes one entry after the published ones and publishes it. Writer only, writable,
// not full. It returns false, writing nothing, when no disk block can back the entry: the index
// is sparse, so a missing entry only makes lookups scan further.
func (m *mmapIndex) appendEntry(fill func(e []byte)) bool {
	n := m.n.Load()
	if !m.reserve((n + 1) * int64(m.entrySize)) {
		return false
	}
	d := *m.data.Load()
	fill(d[n*int64(m.entrySize) : (n+1)*int64(m.entrySize)])
	m.n.Store(n + 1)
	return true
}

// truncateEntries drops entries from k on. Writer only.
func (m *mmapIndex) truncateEntries(k int) {
	if int64(k) < m.n.Load() {
		m.n.Store(int64(k))
	}
}

// seal trims the file to the used bytes and closes the descriptor; the mapping stays for readers.
func (m *mmapIndex) seal() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.writable {
		return nil
	}
	m.writable = false
	return os.Truncate(m.path, m.n.Load()*int64(m.entrySize))
}

// sync flushes the mapped pages of a writable index.
func (m *mmapIndex) sync() error {
	if d := m.data.Load(); d != nil && len(*d) > 0 {
		return unix.Msync(*d, unix.MS_SYNC)
	}
	return nil
}

func (m *mmapIndex) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var err error
	if d := m.data.Swap(nil); d != nil && len(*d) > 0 {
		if e := unix.Munmap(*d); err == nil {
			err = e
		}
	}
	for _, d := range m.retired {
		unix.Munmap(d)
	}
	m.retired = nil
	return err
}

// offsetIndex maps relative offsets to file positions.
type offsetIndex struct{ *mmapIndex }

func (x offsetIndex) entry(d []byte, i int) (rel uint32, pos uint32) {
	e := d[i*offsetEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func (x offsetIndex) append(rel uint32, pos uint32) bool {
	return x.appendEntry(func(e []byte) {
		binary.BigEndian.PutUint32(e, rel)
		binary.BigEndian.PutUint32(e[4:], pos)
	})
}

// lookup returns the entry with the largest relative offset ≤ rel (the batch there starts at or
// before rel), or (0, 0) when no entry qualifies: scanning from position 0 is then correct.
func (x offsetIndex) lookup(rel uint32) (uint32, uint32) {
	d, n := x.view()
	i := sort.Search(n, func(i int) bool { r, _ := x.entry(d, i); return r > rel }) - 1
	if i < 0 {
		return 0, 0
	}
	return x.entry(d, i)
}

// lastWithin returns the last entry whose position is ≤ posMax and relative offset < relMax: every
// batch before that entry's position fits both bounds. ok is false when none does.
func (x offsetIndex) lastWithin(posMax int64, relMax int64) (rel uint32, pos uint32, ok bool) {
	d, n := x.view()
	i := sort.Search(n, func(i int) bool {
		r, p := x.entry(d, i)
		return int64(p) > posMax || int64(r) >= relMax
	}) - 1
	if i < 0 {
		return 0, 0, false
	}
	rel, pos = x.entry(d, i)
	return rel, pos, true
}

// countBelowRel is the number of entries with relative offset < rel (for truncation).
func (x offsetIndex) countBelowRel(rel int64) int {
	d, n := x.view()
	return sort.Search(n, func(i int) bool { r, _ := x.entry(d, i); return int64(r) >= rel })
}

func (x offsetIndex) last() (rel, pos uint32, ok bool) {
	d, n := x.view()
	if n == 0 {
		return 0, 0, false
	}
	rel, pos = x.entry(d, n-1)
	return rel, pos, true
}

// timeIndex maps timestamps to the first batch that may hold a later one.
type timeIndex struct{ *mmapIndex }

func (x timeIndex) entry(d []byte, i int) (ts int64, rel uint32) {
	e := d[i*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

func (x timeIndex) append(ts int64, rel uint32) bool {
	return x.appendEntry(func(e []byte) {
		binary.BigEndian.PutUint64(e, uint64(ts))
		binary.BigEndian.PutUint32(e[8:], rel)
	})
}

func (x timeIndex) last() (ts int64, rel uint32, ok bool) {
	d, n := x.view()
	if n == 0 {
		return 0, 0, false
	}
	ts, rel = x.entry(d, n-1)
	return ts, rel, true
}

// lookup returns the relative offset to start scanning from for the first batch with
// maxTimestamp ≥ ts: the last entry whose timestamp is < ts (every batch before it is older),
// or 0 when none.
func (x timeIndex) lookup(ts int64) uint32 {
	d, n := x.view()
	i := sort.Search(n, func(i int) bool { t, _ := x.entry(d, i); return t >= ts }) - 1
	if i < 0 {
		return 0
	}
	_, rel := x.entry(d, i)
	return rel
}

func (x timeIndex) countBelowRel(rel int64) int {
	d, n := x.view()
	return sort.Search(n, func(i int) bool { _, r := x.entry(d, i); return int64(r) >= rel })
}
