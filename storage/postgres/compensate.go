package postgres

// compensate2FASQL is SPEC §2's 2FA compensation for job $1, which has just ended failed or cancelled: when
// its disable_2fa cleared require_2fa and the organization has no auth provider (the setup did not get as far
// as SSO), require_2fa is set back and audited, so that the organization is never left with neither. It
// does nothing for a job that is still running, that never cleared require_2fa, or that was compensated
// already (require_2fa is set again, and the audit entry is unique per setup, run and step).
const compensate2FASQL = `
	WITH j AS (
		SELECT s.id, s.organization_id, s.user_id, s.retries, s.request->>'ip_address' AS ip FROM setups s
		WHERE s.id = $1 AND s.status IN ('failed', 'cancelled')
			AND EXISTS (SELECT 1 FROM setup_stages st WHERE st.setup_id = s.id AND st.stage = 'disable_2fa' AND st.status = 'done')
	), org AS (
		UPDATE organizations o SET require_2fa = true FROM j
		WHERE o.id = j.organization_id AND NOT o.require_2fa
			AND NOT EXISTS (SELECT 1 FROM auth_providers p WHERE p.organization_id = o.id)
		RETURNING o.id
	)
	INSERT INTO audit_log_entries (organization_id, setup_id, event, actor_user_id, actor_label, target_object_id,
		ip_address, data, run, step)
	SELECT org.id, j.id, 'org.edit', j.user_id, coalesce((SELECT username FROM users WHERE id = j.user_id), ''),
		org.id, j.ip, '{"require_2fa": "to True when SSO setup did not complete"}', j.retries, 'compensation'
	FROM org, j
	ON CONFLICT (setup_id, run, step, event) WHERE setup_id IS NOT NULL DO NOTHING`
