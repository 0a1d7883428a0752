package main

// The data directory lock: one `sluice serve` per log.dirs.
//
// A second broker on a directory in use would open the same partition logs: it removes their
// clean-shutdown markers and, when it fails or stops, writes them back, so a later crash of the
// first broker would be mistaken for a clean stop and its torn tail never rescanned. Kafka guards
// each log directory with a .lock file for the same reason; serve takes an exclusive flock(2) on
// <log.dirs>/.lock before opening anything and holds it until the broker is closed. The lock
// goes with the process, so a crash leaves nothing to clean up.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// dataDirLockFile is the lock's name in the data directory, Kafka's.
const dataDirLockFile = ".lock"

// lockDataDir creates dir if needed and locks it for this process. It returns the function that
// releases the lock.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log.dirs %s: %w", dir, err)
	}
	path := filepath.Join(dir, dataDirLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log.dirs %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("log.dirs %s is in use by another sluice serve (%s is locked)", dir, path)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}
