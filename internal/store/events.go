package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Event is one row of the append-only security history.
type Event struct {
	ID        int64
	CreatedAt time.Time
	Kind      string
	UserID    int64 // 0 = none
	ProjectID int64 // 0 = none
	OrgID     int64 // 0 = none
	IP        string
	UserAgent string
	Detail    string
	// Username is the acting account's name, and ProjectName the project's, as they are when the event is read
	// ("" when there is none, or it is gone); OrgEvents leaves them empty.
	Username, ProjectName string
}

// AddEvent appends to the security history.
func (db *DB) AddEvent(ctx context.Context, e Event) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO events (created_at, kind, user_id, project_id, org_id, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		micros(e.CreatedAt), e.Kind, nullID(e.UserID), nullID(e.ProjectID), nullID(e.OrgID), e.IP, e.UserAgent, e.Detail)
	if err != nil {
		return fmt.Errorf("add event %s: %w", e.Kind, err)
	}
	return nil
}

// eventColumns are an event's columns with the names of its account and project, read from eventsFrom.
const (
	eventColumns = `e.id, e.created_at, e.kind, COALESCE(e.user_id, 0), COALESCE(e.project_id, 0), e.ip, e.user_agent,
		e.detail, COALESCE(u.username, ''), COALESCE(p.name, '')`
	eventsFrom = ` FROM events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN projects p ON p.id = e.project_id`
)

func scanEvents(rows *sql.Rows, err error) ([]Event, error) {
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var created int64
		if err := rows.Scan(&e.ID, &created, &e.Kind, &e.UserID, &e.ProjectID, &e.IP, &e.UserAgent, &e.Detail,
			&e.Username, &e.ProjectName); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

// Events lists the newest events of a user (projectID 0) or of a project (userID 0), newest first.
func (db *DB) Events(ctx context.Context, userID, projectID int64, limit int) ([]Event, error) {
	return scanEvents(db.sql.QueryContext(ctx, `SELECT `+eventColumns+eventsFrom+`
		 WHERE ($1 = 0 OR e.user_id = $1) AND ($2 = 0 OR e.project_id = $2) ORDER BY e.id DESC LIMIT $3`,
		userID, projectID, limit))
}

// ProjectEvents lists the newest events of a project but those of kind except, newest first.
func (db *DB) ProjectEvents(ctx context.Context, projectID int64, except string, limit int) ([]Event, error) {
	return scanEvents(db.sql.QueryContext(ctx, `SELECT `+eventColumns+eventsFrom+`
		 WHERE e.project_id = $1 AND e.kind <> $2 ORDER BY e.id DESC LIMIT $3`, projectID, except, limit))
}

// EventsOfKind lists the newest events of one kind whose id is below before (0: from the newest), newest first.
func (db *DB) EventsOfKind(ctx context.Context, kind string, before int64, limit int) ([]Event, error) {
	return scanEvents(db.sql.QueryContext(ctx, `SELECT `+eventColumns+eventsFrom+`
		 WHERE e.kind = $1 AND ($2 = 0 OR e.id < $2) ORDER BY e.id DESC LIMIT $3`, kind, before, limit))
}

// OrgEvents lists the newest events of an organization, newest first.
func (db *DB) OrgEvents(ctx context.Context, orgID int64, limit int) ([]Event, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT id, created_at, kind, COALESCE(user_id, 0), COALESCE(project_id, 0), ip, user_agent, detail FROM events
		 WHERE org_id = $1 ORDER BY id DESC LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("organization events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{OrgID: orgID}
		var created int64
		if err := rows.Scan(&e.ID, &created, &e.Kind, &e.UserID, &e.ProjectID, &e.IP, &e.UserAgent, &e.Detail); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
