package harness

import (
	"io"
	"os"
)

// ProgressWriter returns f when a live progress line belongs there, or nil:
// only on a terminal, and never under CI (CI=true), where a carriage-return
// line makes a log unreadable.
func ProgressWriter(f *os.File) io.Writer {
	if os.Getenv("CI") == "true" || f == nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}
