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

// PoisonSignal is a signal that can never be delivered (its args are not what its receiver takes): it is set
// aside with its error, and reported once, instead of blocking every signal after it.
type PoisonSignal struct {
	ID    int64
	Name  string
	Error string
}

// DeliverSignals delivers up to limit undelivered signals to their receivers and marks them delivered, all
// in one transaction of two round trips (pipelinedTx); it returns how many it delivered, and the signals it
// set aside in the same transaction. SKIP LOCKED lets several workers forward at once without delivering one
// signal twice; the receivers are idempotent upserts.
func (s *Store) DeliverSignals(ctx context.Context, limit int) (int, []PoisonSignal, error) {
	type sig struct {
		id, org int64
		name    string
		args    map[string]any
	}
	var sigs []sig
	var poison []PoisonSignal
	delivered := 0
	err := s.pipelinedTx(ctx, func(b *pgx.Batch) {
		b.Queue(`
			SELECT id, name, organization_id, args FROM signals WHERE delivered_at IS NULL AND failed_at IS NULL
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var sg sig
				var raw []byte
				if err := rows.Scan(&sg.id, &sg.name, &sg.org, &raw); err != nil {
					return err
				}
				if err := json.Unmarshal(raw, &sg.args); err != nil {
					poison = append(poison, PoisonSignal{ID: sg.id, Name: sg.name, Error: "args: " + err.Error()})
					continue
				}
				sigs = append(sigs, sg)
			}
			return rows.Err()
		})
	}, func(_ querier, b *pgx.Batch) error {
		ids := make([]int64, 0, len(sigs))
		for _, sg := range sigs {
			if err := receive(b, sg.name, sg.org, sg.args); err != nil {
				poison = append(poison, PoisonSignal{ID: sg.id, Name: sg.name, Error: err.Error()})
				continue
			}
			ids = append(ids, sg.id)
		}
		if len(ids) > 0 {
			b.Queue(`UPDATE signals SET delivered_at = now() WHERE id = ANY ($1)`, ids)
		}
		delivered = len(ids)
		for _, p := range poison {
			b.Queue(`UPDATE signals SET failed_at = now(), error = $2 WHERE id = $1`, p.ID, p.Error)
		}
		return nil // nothing to do: only COMMIT goes
	})
	if err != nil {
		return 0, nil, err
	}
	return delivered, poison, nil
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
		// As Sentry's record_member_joined: a pending task is completed by the member who joined, an absent
		// one is created complete, a complete one is left as it is.
		b.Queue(`
			INSERT INTO onboarding_tasks (organization_id, task, status, data)
			VALUES ($1, 'invite_member', 'complete', $2)
			ON CONFLICT (organization_id, task) DO UPDATE
				SET status = 'complete', data = excluded.data, date_completed = now()
				WHERE onboarding_tasks.status = 'pending'`, org, data)
		return nil
	default:
		return fmt.Errorf("unknown signal %q", name)
	}
}
