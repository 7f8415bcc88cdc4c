package storage

import "errors"

// ErrNotFound means the row asked for does not exist; drivers' own "no rows" errors are translated to it at
// the storage boundary so that callers never import a driver.
var ErrNotFound = errors.New("not found")

// ErrStageDone means the stage was already recorded for the job: a redelivered task has nothing left to do
// but make sure the next stage is enqueued.
var ErrStageDone = errors.New("stage already recorded")
