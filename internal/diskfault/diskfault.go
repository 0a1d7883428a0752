// Package diskfault injects disk faults into real files and file systems for tests (the storage
// half of RELIABILITY.md's fault list): a small tmpfs to fill until ENOSPC, and bit flips. Like
// net/http/httptest it is imported by tests only; it takes a testing.TB and fails the test on any
// setup error.
//
// Mounting needs root. This machine and CI run as root, so a test that cannot mount fails with a
// clear message instead of skipping: a skipped full-disk test must never count as passing.
package diskfault

import (
	"os"
	"os/exec"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (mount's syntax: "8m") on a fresh temporary directory,
// unmounts it at cleanup, and returns the directory. If the test binary dies before cleanup (a
// SIGBUS, say), the mount stays behind: `umount` it by path.
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("a full-disk test mounts a tmpfs and needs root (euid %d)", os.Geteuid())
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FlipBits XORs the byte at pos of the file at path with mask, in place (through the page cache,
// so a process that has the file open reads the flipped byte at once).
func FlipBits(t testing.TB, path string, pos int64, mask byte) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var one [1]byte
	if _, err := fh.ReadAt(one[:], pos); err != nil {
		t.Fatalf("%s at %d: %v", path, pos, err)
	}
	one[0] ^= mask
	if _, err := fh.WriteAt(one[:], pos); err != nil {
		t.Fatalf("%s at %d: %v", path, pos, err)
	}
}
