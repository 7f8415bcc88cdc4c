package worker

import (
	"fmt"
	"log/slog"
	"os"
)

// asynqLogger adapts slog to Asynq's logger interface.
type asynqLogger struct{ log *slog.Logger }

func newAsynqLogger(l *slog.Logger) asynqLogger {
	return asynqLogger{log: l.With("component", "asynq")}
}

func (a asynqLogger) Debug(args ...any) { a.log.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.log.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.log.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.log.Error(fmt.Sprint(args...)) }

// Fatal is called by Asynq only when it cannot go on.
func (a asynqLogger) Fatal(args ...any) {
	a.log.Error(fmt.Sprint(args...))
	os.Exit(1)
}
