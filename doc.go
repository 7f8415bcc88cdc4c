// Package ssosetup holds the domain of an SSO setup job: the request a web tier submits, its validation,
// the stages a job runs through and the error codes it can end with (SPEC §2, §3, §5). It does no I/O; the
// enqueue, worker and storage packages build on it.
package ssosetup
