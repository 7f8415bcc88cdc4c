package postgres

import (
	"encoding/json"

	"github.com/ssosetup/ssosetup"
)

// Audit events (SPEC §7.1).
const (
	auditOrgEdit             = "org.edit"
	auditSSOEnable           = "sso.enable"
	auditIdentityLink        = "sso-identity.link"
	auditMemberAdd           = "member.add"
	auditMemberAcceptInvite  = "member.accept-invite"
	auditInviteRequestRemove = "invite-request.remove"
)

// audit queues one audit entry of the job's acting user on the stage's transaction. Entries are unique per
// setup, run (a retry is a new run), stage and event, so a stage that runs again cannot write its entry
// twice.
func audit(tx *stageTx, j *ssosetup.Job, event string, target int64, targetUser *int64, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	tx.later(auditSQL, j.OrganizationID, j.ID, event, j.Request.UserID, target, targetUser, ipAddress(j), raw,
		j.Retries, tx.stage)
	return nil
}

// auditSQL writes an audit entry ($1 organization … $8 data, $9 run, $10 step) once.
const auditSQL = `
	INSERT INTO audit_log_entries (organization_id, setup_id, event, actor_user_id, actor_label,
		target_object_id, target_user_id, ip_address, data, run, step)
	VALUES ($1, $2, $3, $4, coalesce((SELECT username FROM users WHERE id = $4), ''), $5, $6, $7, $8, $9, $10)
	ON CONFLICT (setup_id, run, step, event) WHERE setup_id IS NOT NULL DO NOTHING`

// signal queues an outbox row on the stage's transaction, so that it exists if and only if the change it
// announces committed; the worker's forwarder delivers it.
func signal(tx *stageTx, j *ssosetup.Job, name string, args map[string]any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	tx.signalled = true
	tx.later(`
		INSERT INTO signals (setup_id, name, organization_id, args) VALUES ($1, $2, $3, $4)
		ON CONFLICT (setup_id, name) WHERE setup_id IS NOT NULL DO NOTHING`,
		j.ID, name, j.OrganizationID, raw)
	return nil
}

// ipAddress is the request's IP address, or nil.
func ipAddress(j *ssosetup.Job) *string {
	if j.Request.IPAddress == "" {
		return nil
	}
	return &j.Request.IPAddress
}
