package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"wharf/internal/ident"
	"wharf/internal/pypkg"
)

// ListQuery asks for one page of an administrators' list, in name order.
type ListQuery struct {
	// Prefix keeps the rows whose name (or, for accounts, email address) starts with it, compared as the list's
	// names are (ident.Key for accounts, pypkg.NormalizeName for projects); "" keeps every row.
	Prefix string
	// After and Before are a ListPage's Next and Prev: the page that follows, or precedes, that row. Both "" asks
	// for the first page.
	After, Before string
	Limit         int
}

// ListPage is one page of a list, with where its neighbours start.
type ListPage[T any] struct {
	Rows []T
	// Prev and Next are the cursors of the pages before and after this one ("" when there is none): ask for
	// ListQuery{Before: Prev} and ListQuery{After: Next}.
	Prev, Next string
}

// AdminAccount is an account as the administrators' list shows it.
type AdminAccount struct {
	Account
	// RecoveryCodes are the account's unused recovery codes.
	RecoveryCodes int
	// Projects counts the projects the account has a role on, by any grant (its own, an organization's, a team's).
	Projects int
}

// AdminAccounts lists one page of accounts by username, with their second factors, recovery codes and projects,
// in one statement whatever the page's size: the list must not read each row's factors on its own.
func (db *DB) AdminAccounts(ctx context.Context, q ListQuery) (ListPage[AdminAccount], error) {
	where, args := pageWhere(q, "username_key", likeEscape(ident.Key(q.Prefix))+"%",
		"(username_key LIKE $1 ESCAPE '\\' OR email_key LIKE $1 ESCAPE '\\')")
	rows, err := db.sql.QueryContext(ctx, `SELECT `+accountColumns+`,
			(SELECT count(*) FROM recovery_codes c WHERE c.user_id = users.id AND c.used_at IS NULL),
			(SELECT count(DISTINCT r.project_id) FROM project_roles r WHERE r.user_id = users.id)
		FROM users WHERE `+where+pageOrder(q, "username_key"), args...)
	if err != nil {
		return ListPage[AdminAccount]{}, fmt.Errorf("admin accounts: %w", err)
	}
	defer rows.Close()
	var out []AdminAccount
	for rows.Next() {
		var a AdminAccount
		if a.Account, err = scanAccount(scanWith{rows, []any{&a.RecoveryCodes, &a.Projects}}); err != nil {
			return ListPage[AdminAccount]{}, fmt.Errorf("admin accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return ListPage[AdminAccount]{}, fmt.Errorf("admin accounts: %w", err)
	}
	return page(q, out, func(a AdminAccount) string { return ident.Key(a.Username) }), nil
}

// scanWith scans a row of accountColumns followed by the columns of more.
type scanWith struct {
	rows *sql.Rows
	more []any
}

func (s scanWith) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.more...)...) }

// AdminProject is a project as the administrators' list shows it.
type AdminProject struct {
	Project
	// CriticalSince is when the project was designated critical (zero: it is not); CriticalByHand says an
	// administrator designated it rather than the daily designation by downloads.
	CriticalSince  time.Time
	CriticalByHand bool
	Org            string // the organization that holds it; "" for none
	Files          int
	// Collaborators are its Owners and Maintainers by any grant (its own roles, its organization's Owners, its
	// teams' members), each once with their highest role and their second factors, for policy.FullyProtected.
	Collaborators []Collaborator
}

// The events of a designation, as internal/critical records them (it imports this package, so it cannot lend its
// constants): an administrator's designation says so in its detail, the daily designation gives its downloads.
const (
	eventCritical       = "project:critical"
	designatedByHandPfx = "designated critical by an administrator"
)

// AdminProjects lists one page of projects by normalised name, with their critical status, organization, files
// and collaborators, in two statements whatever the page's size.
func (db *DB) AdminProjects(ctx context.Context, q ListQuery) (ListPage[AdminProject], error) {
	where, args := pageWhere(q, "p.normalized_name", likeEscape(pypkg.NormalizeName(q.Prefix))+"%",
		"p.normalized_name LIKE $1 ESCAPE '\\'")
	n := len(args)
	args = append(args, eventCritical, designatedByHandPfx+"%")
	// The designation is the project's latest designation event: a project released and designated again is
	// described by the second.
	rows, err := db.sql.QueryContext(ctx, fmt.Sprintf(`SELECT p.id, p.name, p.normalized_name, p.created_at, p.last_serial,
			p.total_size, p.critical_since, COALESCE(o.name, ''),
			(SELECT count(*) FROM files f WHERE f.project_id = p.id),
			COALESCE((SELECT e.detail LIKE $%d FROM events e WHERE e.id = (
				SELECT max(id) FROM events WHERE project_id = p.id AND kind = $%d)), FALSE)
		FROM projects p LEFT JOIN organizations o ON o.id = p.org_id
		WHERE %s`, n+2, n+1, where)+pageOrder(q, "p.normalized_name"), args...)
	if err != nil {
		return ListPage[AdminProject]{}, fmt.Errorf("admin projects: %w", err)
	}
	defer rows.Close()
	var out []AdminProject
	for rows.Next() {
		var p AdminProject
		var created int64
		var critical sql.NullInt64
		if err := rows.Scan(&p.ID, &p.Name, &p.NormalizedName, &created, &p.LastSerial, &p.TotalSize, &critical, &p.Org,
			&p.Files, &p.CriticalByHand); err != nil {
			return ListPage[AdminProject]{}, fmt.Errorf("admin projects: %w", err)
		}
		p.CreatedAt, p.CriticalSince = fromMicros(created), fromNullMicros(critical)
		p.CriticalByHand = p.CriticalByHand && critical.Valid
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return ListPage[AdminProject]{}, fmt.Errorf("admin projects: %w", err)
	}
	rows.Close()
	pg := page(q, out, func(p AdminProject) string { return p.NormalizedName })
	if err := db.collaboratorsOf(ctx, pg.Rows); err != nil {
		return ListPage[AdminProject]{}, fmt.Errorf("admin projects: %w", err)
	}
	return pg, nil
}

// collaboratorsOf fills the Collaborators of ps in one statement.
func (db *DB) collaboratorsOf(ctx context.Context, ps []AdminProject) error {
	if len(ps) == 0 {
		return nil
	}
	at := make(map[int64]int, len(ps))
	marks := make([]string, len(ps))
	args := make([]any, len(ps))
	for i, p := range ps {
		at[p.ID] = i
		marks[i] = fmt.Sprintf("$%d", i+1)
		args[i] = p.ID
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT r.project_id, u.id, u.username, r.role,
			EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = u.id),
			EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id)
		FROM (SELECT project_id, user_id, max(role) AS role FROM project_roles
			WHERE project_id IN (`+strings.Join(marks, ", ")+`) GROUP BY project_id, user_id) r
		JOIN users u ON u.id = r.user_id ORDER BY r.project_id, r.role DESC, u.username_key`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var projectID int64
		var c Collaborator
		if err := rows.Scan(&projectID, &c.UserID, &c.Username, &c.Role, &c.HasTOTP, &c.HasWebAuthn); err != nil {
			return err
		}
		p := &ps[at[projectID]]
		p.Collaborators = append(p.Collaborators, c)
	}
	return rows.Err()
}

// pageWhere is the condition of a page of q over the column key: the prefix (as the pattern, which match uses as
// $1) and the cursor. Its arguments are $1 to $3.
func pageWhere(q ListQuery, key, pattern, match string) (string, []any) {
	cond := match
	cursor := ""
	switch {
	case q.After != "":
		cond += " AND " + key + " > $2"
		cursor = q.After
	case q.Before != "":
		cond += " AND " + key + " < $2"
		cursor = q.Before
	default:
		cond += " AND $2 = ''"
	}
	return cond, []any{pattern, cursor, q.Limit + 1}
}

// pageOrder orders a page and reads one row more than it shows, to know whether another page follows. A page
// before the cursor is read backwards, from the cursor, and put in order by page.
func pageOrder(q ListQuery, key string) string {
	dir := "ASC"
	if q.After == "" && q.Before != "" {
		dir = "DESC"
	}
	return " ORDER BY " + key + " " + dir + " LIMIT $3"
}

// page turns the rows a page's query read (Limit+1 at most, backwards for a page before a cursor) into the page,
// with the cursors of its neighbours; key is a row's value of the column the list is ordered by.
func page[T any](q ListQuery, rows []T, key func(T) string) ListPage[T] {
	backwards := q.After == "" && q.Before != ""
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	if backwards {
		slices.Reverse(rows)
	}
	p := ListPage[T]{Rows: rows}
	if len(rows) == 0 {
		return p
	}
	// Coming from a cursor, the page it came from is there on the other side.
	if backwards && more || q.After != "" {
		p.Prev = key(rows[0])
	}
	if !backwards && more || backwards {
		p.Next = key(rows[len(rows)-1])
	}
	return p
}

// UnreserveName releases a reserved name; it reports whether the name was reserved.
func (db *DB) UnreserveName(ctx context.Context, normalized string) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM reserved_names WHERE normalized_name = $1`, normalized)
	if err != nil {
		return false, fmt.Errorf("unreserve name: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("unreserve name: %w", err)
	}
	return n == 1, nil
}
