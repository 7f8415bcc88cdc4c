package loadtest

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// org is one seeded organization: its owner runs the setup, its members link afterwards.
type org struct {
	id      int64
	owner   int64
	members []int64
}

// seed creates orgs organizations, each with an owner who is a member and `members` users who are not yet:
// a third of them have a pending invite, a third an invite request, the rest nothing. One statement per
// table, whatever the size, so seeding stays fast.
func seed(ctx context.Context, pool *pgxpool.Pool, run string, orgs, members int) ([]org, error) {
	out := make([]org, orgs)
	_, err := pool.Exec(ctx, `
		WITH o AS (
			INSERT INTO organizations (slug, name)
			SELECT $1 || '-' || i, 'Load ' || $1 || ' ' || i FROM generate_series(1, $2) i RETURNING id, slug
		), u AS (
			INSERT INTO users (username, email)
			SELECT o.slug || '-u' || j, o.slug || '-u' || j || '@load.test' FROM o, generate_series(0, $3) j
			RETURNING id, username
		)
		INSERT INTO organization_members (organization_id, user_id, role)
		SELECT o.id, u.id, 'owner' FROM o JOIN u ON u.username = o.slug || '-u0'`, run, orgs, members)
	if err != nil {
		return nil, fmt.Errorf("seed organizations and users: %w", err)
	}
	// Invites: member j % 3 == 1 has a pending invite, j % 3 == 2 an invite request.
	_, err = pool.Exec(ctx, `
		INSERT INTO organization_members (organization_id, email, token, invite_status)
		SELECT o.id, u.email, CASE WHEN j % 3 = 1 THEN md5(u.email) END,
			CASE WHEN j % 3 = 1 THEN 'approved' ELSE 'requested_to_join' END
		FROM organizations o, generate_series(1, $2) j, users u
		WHERE o.slug LIKE $1 || '-%' AND u.username = o.slug || '-u' || j AND j % 3 IN (1, 2)`, run, members)
	if err != nil {
		return nil, fmt.Errorf("seed invites: %w", err)
	}
	rows, err := pool.Query(ctx, `
		SELECT o.id, split_part(o.slug, '-', 2)::int, u.id, split_part(u.username, '-u', 2)::int
		FROM organizations o JOIN users u ON u.username LIKE o.slug || '-u%'
		WHERE o.slug LIKE $1 || '-%'`, run)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var orgID, userID int64
		var i, j int
		if err := rows.Scan(&orgID, &i, &userID, &j); err != nil {
			return nil, err
		}
		o := &out[i-1]
		o.id = orgID
		if j == 0 {
			o.owner = userID
		} else {
			o.members = append(o.members, userID)
		}
	}
	return out, rows.Err()
}
