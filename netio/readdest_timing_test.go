package netio

import (
	"hash/crc32"
	"net"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicemq/sluice/internal/cputime"
	"github.com/sluicemq/sluice/internal/ntcopy"
)

// BenchmarkSocketReadDestination asks where a produced batch should be read from the socket to:
// into a small reused window (netio's streamed frame) and then copied into the log's ring, or
// straight into the ring. One loopback TCP connection; a sender goroutine writes 1 MiB at a
// time; the receiving thread reads up to streamReadBytes per read(2) into the destination and
// checksums what it read with CRC32C (as a produced batch is checked), then, for copy=, copies
// it on into a region of that size. The metric is the receiving thread's CPU per GiB (getrusage
// RUSAGE_THREAD), so the sender's work is not in it.
//
//	dest=window              the reads land in one reused 256 KiB buffer, nothing more
//	dest=window/copy=48MiB   netio's path at 12 partitions: window, then a copy into 12 rings
//	                         of 4 MiB (a 48 MiB region cycled through)
//	dest=window/ntcopy=48MiB the same with non-temporal stores (internal/ntcopy), as the ring
//	                         copy is made since the thirteenth session
//	dest=ring=4MiB, =48MiB   reading straight into one 4 MiB ring or into 12 of them
//
// What it showed (results/broker.md, "eleventh pass"): the cost follows how much memory the
// stores cycle through, not which copy makes them. Straight into 48 MiB of rings cost about what
// the window plus a copy costs; into 4 MiB, about what the window alone costs.
// With non-temporal stores (results/broker.md, "thirteenth pass") the window plus the copy into
// 48 MiB costs what reading straight into it costs, so reading into the rings saves nothing.
func BenchmarkSocketReadDestination(b *testing.B) {
	cases := []struct {
		name           string
		readInto, copy int  // bytes of the region read into (0: the window), copied into (0: none)
		nonTemporal    bool // the copy with ntcopy.Copy, as engine/log's ring copy
	}{
		{"dest=window", 0, 0, false},
		{"dest=window/copy=48MiB", 0, 48 << 20, false},
		{"dest=window/ntcopy=48MiB", 0, 48 << 20, true},
		{"dest=ring=4MiB", 4 << 20, 0, false},
		{"dest=ring=48MiB", 48 << 20, 0, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchReadDestination(b, tc.readInto, tc.copy, tc.nonTemporal)
		})
	}
}

func benchReadDestination(b *testing.B, readIntoBytes, copyBytes int, nonTemporal bool) {
	const opBytes = streamReadBytes
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	total := int64(b.N) * opBytes
	sendErr := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			sendErr <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for sent := int64(0); sent < total; sent += int64(len(buf)) {
			if _, err := c.Write(buf); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	conn, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var fd int
	_ = raw.Control(func(s uintptr) { fd = int(s) })

	window := make([]byte, opBytes)
	region := func(n int) []byte {
		if n == 0 {
			return nil
		}
		// Mapped shared, as a ring file is, and touched, so no page faults are measured.
		m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_SHARED)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 4096 {
			m[i] = 1
		}
		b.Cleanup(func() { _ = unix.Munmap(m) })
		return m
	}
	readInto, copyInto := region(readIntoBytes), region(copyBytes)
	table := crc32.MakeTable(crc32.Castagnoli)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := cputime.Thread()
	b.SetBytes(opBytes)
	b.ReportAllocs()
	var sum uint32
	readPos, copyPos := 0, 0
	b.ResetTimer()
	for range b.N {
		for got := 0; got < opBytes; {
			dst := window[:opBytes-got]
			if readInto != nil {
				if readPos+len(dst) > len(readInto) {
					readPos = 0
				}
				dst = readInto[readPos : readPos+len(dst)]
			}
			n, err := readRetrying(fd, dst)
			if err != nil || n == 0 {
				b.Fatalf("read: %d, %v", n, err)
			}
			sum = crc32.Update(sum, table, dst[:n])
			if copyInto != nil {
				if copyPos+n > len(copyInto) {
					copyPos = 0
				}
				if nonTemporal {
					copyPos += ntcopy.Copy(copyInto[copyPos:], dst[:n])
				} else {
					copyPos += copy(copyInto[copyPos:], dst[:n])
				}
			}
			readPos += n
			got += n
		}
	}
	gib := float64(b.N) * opBytes / (1 << 30)
	b.ReportMetric((cputime.Thread()-cpu0).Seconds()/gib, "reader-cpu-s/GiB")
	_ = conn.Close()
	<-sendErr // its error, if any, came after everything measured was read (the close ends it)
	_ = sum
}

// readRetrying is read(2) on the connection's non-blocking socket, waiting in poll(2) while it
// has nothing (the Go runtime's poller is bypassed so the reading thread's CPU is all its own).
func readRetrying(fd int, p []byte) (int, error) {
	for {
		n, err := unix.Read(fd, p)
		if err == unix.EAGAIN {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, 1000); err != nil && err != unix.EINTR {
				return 0, err
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
