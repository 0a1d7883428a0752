package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The write-behind ring lives in a file (ringFileName in the partition's directory) mapped
// shared, so the bytes Append copied into it are in the kernel's page cache the moment they are
// copied, as a buffered pwrite's would be. A killed process therefore loses nothing it answered
// acks=0/1 for: the next Open writes the ring's unwritten bytes into the segment before recovery
// scans it (replayRing). An OS crash loses them, as it loses a buffered write's unflushed pages
// in Kafka; the header's boot id makes Open ignore a ring from an earlier boot.
//
// File layout: writeBehindBytes of ring (file position p of the active segment at
// ring[p % writeBehindBytes]), then one header block. The header's words are stored with atomic
// stores in program order, so a process killed between two stores leaves a header that is
// either marked invalid or true of the ring:
//
//	0  magic      ringMagic
//	8  valid      1 while the fields below describe the ring; 0 during attach
//	16 segBase    the base offset of the segment the ring belongs to
//	24 written    segment file position up to which the file holds the appended bytes
//	32 appended   segment file position after the last byte copied into the ring
//	40 ringBytes  writeBehindBytes when the file was made
//	48 bootID     36 bytes, /proc/sys/kernel/random/boot_id of the run that made the file
//
// Invariant (writebehind.go): the ring holds positions [written, appended) and appended −
// written ≤ writeBehindBytes; header.written is stored before the writer lets appends reuse the
// ring space it frees, and header.appended after the bytes are copied.
//
// Huge pages: O_DIRECT pins every page it writes from, so the ring wants 2 MiB pages (512 times
// fewer pins; with 4 KiB pages the pinning measured 13 % of the append's CPU). The ring is
// filled with 2 MiB writes (reserveRing), which give it 2 MiB page-cache folios on file systems
// with large folios (ext4 on recent kernels), and mapped at a 2 MiB-aligned address from file
// offset 0, so the kernel maps each folio with one page-table entry.
const (
	ringFileName    = "write-behind.ring"
	ringHeaderBytes = directAlign
	hugePageBytes   = 2 << 20             // x86-64's huge page
	ringMagic       = 0x314e5242_45434c53 // "SLCEBRN1"

	hdrMagic, hdrValid, hdrSegBase, hdrWritten, hdrAppended, hdrRingBytes, hdrBootID = 0, 8, 16, 24, 32, 40, 48
	bootIDLen                                                                        = 36
)

// bootID identifies this boot of the machine; "" where the kernel does not say (rings are then
// never replayed).
var bootID = func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil || len(bytes.TrimSpace(b)) != bootIDLen {
		return ""
	}
	return string(bytes.TrimSpace(b))
}()

// ringHeader is the mapped header block.
type ringHeader []byte

func (h ringHeader) word(off int) *int64 { return (*int64)(unsafe.Pointer(&h[off])) }

func (h ringHeader) store(off int, v int64) { atomic.StoreInt64(h.word(off), v) }

// initRingHeader marks a freshly mapped ring file as this run's. The header is invalid until
// the first attach.
func initRingHeader(h ringHeader) {
	h.store(hdrValid, 0)
	h.store(hdrMagic, ringMagic)
	h.store(hdrRingBytes, writeBehindBytes)
	copy(h[hdrBootID:hdrBootID+bootIDLen], bootID)
}

// setRingHeader points the header at segment base's file position pos (nothing unwritten).
func setRingHeader(h ringHeader, base, pos int64) {
	h.store(hdrValid, 0)
	h.store(hdrSegBase, base)
	h.store(hdrWritten, pos)
	h.store(hdrAppended, pos)
	h.store(hdrValid, 1)
}

// openRingFile opens (creating) dir's ring file at its full size and maps it shared at a huge
// page boundary. Only the header's block is written here; the ring is filled when appends first
// use it (reserveRing), so an idle partition's ring holds neither memory nor disk.
func openRingFile(dir string) (f *os.File, mem []byte, err error) {
	f, err = os.OpenFile(filepath.Join(dir, ringFileName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("write-behind ring: %w", err)
	}
	// A store into a mapped page with no block reserved behind it on a full file system kills
	// the process (SIGBUS): a written block has its space reserved (or allocated) for good.
	if err := f.Truncate(writeBehindBytes); err == nil {
		_, err = f.WriteAt(zeroBlock[:], writeBehindBytes)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("write-behind ring: %w", err)
	}
	mem, err = mapAligned(int(f.Fd()), writeBehindBytes+ringHeaderBytes)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("write-behind ring: %w", err)
	}
	_ = unix.Madvise(mem[:writeBehindBytes], unix.MADV_HUGEPAGE) // advisory
	return f, mem, nil
}

var zeroBlock [directAlign]byte

// reserveRing fills the ring file's ring part with zeros, 2 MiB per write, giving it blocks (so
// stores through the mapping cannot fault on a full disk) and, where the file system has large
// folios, huge pages. The ring's old bytes are gone: nothing in it may be unwritten.
func reserveRing(f *os.File) error {
	iov := make([][]byte, hugePageBytes/directAlign)
	for i := range iov {
		iov[i] = zeroBlock[:]
	}
	for pos := 0; pos < writeBehindBytes; pos += hugePageBytes {
		n, err := unix.Pwritev(int(f.Fd()), iov, int64(pos))
		if err == nil && n < hugePageBytes {
			// A short write is a full disk; writing the rest says so (ENOSPC).
			_, err = f.WriteAt(make([]byte, hugePageBytes-n), int64(pos+n))
		}
		if err != nil {
			return fmt.Errorf("reserve the write-behind ring: %w", err)
		}
	}
	return nil
}

// punchRing frees the ring part's blocks and page cache (fallocate PUNCH_HOLE): after an idle
// release, and after a reservation the disk refused part of. The next use reserves it again.
func punchRing(f *os.File) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, writeBehindBytes)
}

// mapAligned maps size bytes of fd shared at a hugePageBytes-aligned address.
func mapAligned(fd int, size int) ([]byte, error) {
	span := uintptr(size + hugePageBytes)
	res, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	skip := (hugePageBytes - uintptr(res)%hugePageBytes) % hugePageBytes
	at := unsafe.Add(res, skip)
	p, err := unix.MmapPtr(fd, 0, at, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_FIXED)
	if err != nil {
		_ = unix.MunmapPtr(res, span)
		return nil, err
	}
	if skip > 0 {
		_ = unix.MunmapPtr(res, skip)
	}
	if rest := span - skip - uintptr(size); rest > 0 {
		_ = unix.MunmapPtr(unsafe.Add(at, size), rest)
	}
	return unsafe.Slice((*byte)(p), size), nil
}

func unmapRing(mem []byte) { _ = unix.MunmapPtr(unsafe.Pointer(&mem[0]), uintptr(len(mem))) }

// replayRing writes into the last segment the bytes a killed process had copied into the ring
// and not yet written: segment positions [written, appended). It returns how many bytes it
// wrote. Recovery then scans the segment as after any crash, so whatever the ring held is
// CRC-checked like the rest, and a ring that does not fit (another boot, another segment, a
// header caught mid-attach) is left alone. Called by load after an unclean shutdown only: a
// clean Close drains the ring.
func replayRing(dir string, bases []int64) (int64, error) {
	f, err := os.Open(filepath.Join(dir, ringFileName))
	if errors.Is(err, fs.ErrNotExist) || len(bases) == 0 {
		if err == nil {
			f.Close()
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [hdrBootID + bootIDLen]byte
	if _, err := f.ReadAt(h[:], writeBehindBytes); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil // cut short: never a valid header
		}
		return 0, err
	}
	word := func(off int) int64 { return int64(binary.LittleEndian.Uint64(h[off:])) }
	base, written, appended := word(hdrSegBase), word(hdrWritten), word(hdrAppended)
	switch {
	case word(hdrMagic) != ringMagic, word(hdrValid) != 1, word(hdrRingBytes) != writeBehindBytes,
		bootID == "", string(h[hdrBootID:]) != bootID,
		base != bases[len(bases)-1],
		written < 0, appended <= written, appended-written > writeBehindBytes:
		return 0, nil
	}
	buf := make([]byte, appended-written)
	for done := int64(0); done < int64(len(buf)); {
		i := (written + done) % writeBehindBytes
		n := min(int64(len(buf))-done, writeBehindBytes-i)
		if _, err := f.ReadAt(buf[done:done+n], i); err != nil {
			return 0, fmt.Errorf("write-behind ring: %w", err)
		}
		done += n
	}
	seg, err := os.OpenFile(segmentPath(dir, base, ".log"), os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer seg.Close()
	if _, err := seg.WriteAt(buf, written); err != nil {
		return 0, fmt.Errorf("segment %d: replay the write-behind ring: %w", base, err)
	}
	return int64(len(buf)), nil
}
