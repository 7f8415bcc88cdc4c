// Package worker runs the stage handlers of the SSO setup chain (SPEC §3) on an Asynq server, with the side
// tasks and the signal forwarder. Each handler is shaped like an http.Handler: decode the payload, let the
// store do the stage's work in one transaction, then enqueue the next stage — also when a redelivered task
// finds its stage already done, so that a crash between commit and enqueue never stalls a job.
package worker
