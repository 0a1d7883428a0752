package harness

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProgressWriterQuietOffTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ProgressWriter(f) != nil {
		t.Error("progress on a regular file")
	}
	if ProgressWriter(nil) != nil {
		t.Error("progress on nil")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		t.Setenv("CI", "true")
		if ProgressWriter(tty) != nil {
			t.Error("progress under CI=true")
		}
	}
}
