package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomicReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	for _, body := range []string{"first", "second, longer", ""} {
		if err := WriteFileAtomic(path, []byte(body)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Fatalf("read %q (%v), want %q", got, err, body)
		}
	}
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "missing-dir", "f"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
