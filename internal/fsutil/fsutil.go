// Package fsutil holds the one durable-file primitive the engine needs: replace a small file
// atomically and durably (checkpoints, metadata, snapshots).
package fsutil

import (
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces path with body: write a temp file beside it, fsync it, rename it over
// path, fsync the directory. A crash leaves either the old file or the new one, never a mix; the
// temp file (path + ".tmp") may remain and is overwritten by the next call.
func WriteFileAtomic(path string, body []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	err = dir.Sync()
	if cerr := dir.Close(); err == nil {
		err = cerr
	}
	return err
}
