package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Signal names (SPEC §3.8).
const (
	signalSSOEnabled   = "sso_enabled"
	signalMemberJoined = "member_joined"
)

// DeliverSignals delivers up to limit undelivered signals to their receivers and marks them delivered, all
// in one transaction; it returns how many it delivered. SKIP LOCKED lets several workers forward at once
// without delivering one signal twice; the receivers are idempotent upserts anyway.
func (s *Store) DeliverSignals(ctx context.Context, limit int) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, name, organization_id, args FROM signals WHERE delivered_at IS NULL
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		type sig struct {
			id, org int64
			name    string
			args    map[string]any
		}
		var sigs []sig
		for rows.Next() {
			var sg sig
			var raw []byte
			if err := rows.Scan(&sg.id, &sg.name, &sg.org, &raw); err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &sg.args); err != nil {
				return fmt.Errorf("signal %d: %w", sg.id, err)
			}
			sigs = append(sigs, sg)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		ids := make([]int64, 0, len(sigs))
		for _, sg := range sigs {
			if err := receive(ctx, tx, sg.name, sg.org, sg.args); err != nil {
				return fmt.Errorf("deliver signal %d (%s): %w", sg.id, sg.name, err)
			}
			ids = append(ids, sg.id)
		}
		n = len(ids)
		_, err = tx.Exec(ctx, `UPDATE signals SET delivered_at = now() WHERE id = ANY ($1)`, ids)
		return err
	})
	return n, err
}

// receive is the receivers of Sentry's signals, as idempotent upserts.
func receive(ctx context.Context, tx pgx.Tx, name string, org int64, args map[string]any) error {
	switch name {
	case signalSSOEnabled:
		_, err := tx.Exec(ctx, `
			INSERT INTO feature_adoptions (organization_id, feature, complete) VALUES ($1, 'sso', true)
			ON CONFLICT (organization_id, feature) DO UPDATE SET complete = true`, org)
		return err
	case signalMemberJoined:
		data, err := json.Marshal(map[string]any{"invited_member_id": args["organization_member_id"]})
		if err != nil {
			return err
		}
		// The first member to join completes the task; later ones leave it as it is, as in Sentry.
		_, err = tx.Exec(ctx, `
			INSERT INTO onboarding_tasks (organization_id, task, status, data)
			VALUES ($1, 'invite_member', 'complete', $2)
			ON CONFLICT (organization_id, task) DO NOTHING`, org, data)
		return err
	default:
		return fmt.Errorf("unknown signal %q", name)
	}
}
