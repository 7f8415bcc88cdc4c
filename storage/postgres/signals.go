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
// in one transaction of two round trips (pipelinedTx); it returns how many it delivered. SKIP LOCKED lets
// several workers forward at once without delivering one signal twice; the receivers are idempotent upserts.
func (s *Store) DeliverSignals(ctx context.Context, limit int) (int, error) {
	type sig struct {
		id, org int64
		name    string
		args    map[string]any
	}
	var sigs []sig
	err := s.pipelinedTx(ctx, func(b *pgx.Batch) {
		b.Queue(`
			SELECT id, name, organization_id, args FROM signals WHERE delivered_at IS NULL
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit).Query(func(rows pgx.Rows) error {
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
			return rows.Err()
		})
	}, func(_ querier, b *pgx.Batch) error {
		if len(sigs) == 0 {
			return nil // another round delivered them: only COMMIT goes
		}
		ids := make([]int64, 0, len(sigs))
		for _, sg := range sigs {
			if err := receive(b, sg.name, sg.org, sg.args); err != nil {
				return fmt.Errorf("deliver signal %d (%s): %w", sg.id, sg.name, err)
			}
			ids = append(ids, sg.id)
		}
		b.Queue(`UPDATE signals SET delivered_at = now() WHERE id = ANY ($1)`, ids)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(sigs), nil
}

// receive queues the receiver of one of Sentry's signals, an idempotent upsert.
func receive(b *pgx.Batch, name string, org int64, args map[string]any) error {
	switch name {
	case signalSSOEnabled:
		b.Queue(`
			INSERT INTO feature_adoptions (organization_id, feature, complete) VALUES ($1, 'sso', true)
			ON CONFLICT (organization_id, feature) DO UPDATE SET complete = true`, org)
		return nil
	case signalMemberJoined:
		data, err := json.Marshal(map[string]any{"invited_member_id": args["organization_member_id"]})
		if err != nil {
			return err
		}
		// The first member to join completes the task; later ones leave it as it is, as in Sentry.
		b.Queue(`
			INSERT INTO onboarding_tasks (organization_id, task, status, data)
			VALUES ($1, 'invite_member', 'complete', $2)
			ON CONFLICT (organization_id, task) DO NOTHING`, org, data)
		return nil
	default:
		return fmt.Errorf("unknown signal %q", name)
	}
}
