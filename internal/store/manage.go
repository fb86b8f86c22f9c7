package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of the role changes and invitations; callers turn each into its own message.
var (
	ErrLastOwner      = errors.New("a project must keep at least one owner")
	ErrNotOwner       = errors.New("not an owner of the project")
	ErrIsCollaborator = errors.New("already a collaborator of the project")
	ErrAlreadyInvited = errors.New("already invited to the project")
)

// What an inviter becomes when the invitee accepts a transfer of ownership (Invitation.ThenInviter).
const (
	ThenMaintainer = RoleMaintainer
	ThenLeave      = "none"
)

// Invitation is an offer of a role on a project. It is pending until it is accepted, declined or revoked, and
// can be accepted only before it expires.
type Invitation struct {
	ID          int64
	ProjectID   int64
	ProjectName string
	InviteeID   int64
	InviteeName string
	InviterID   int64 // 0 when the inviter's account was deleted
	InviterName string
	Role        string
	// ThenInviter is "" for a plain invitation; for a transfer of ownership it is what the inviter becomes on
	// acceptance: ThenMaintainer or ThenLeave.
	ThenInviter string
	TokenHash   string // hex SHA-256 of the token in the mailed link
	CreatedAt   time.Time
	ExpiresAt   time.Time
	AcceptedAt  time.Time // zero = not accepted
	DeclinedAt  time.Time
	RevokedAt   time.Time
}

// Pending reports whether the invitation can still be accepted at now.
func (i Invitation) Pending(now time.Time) bool {
	return i.AcceptedAt.IsZero() && i.DeclinedAt.IsZero() && i.RevokedAt.IsZero() && now.Before(i.ExpiresAt)
}

// UserProject is a project and the role a user has on it.
type UserProject struct {
	Project Project
	Role    string
}

// RoleChange says what a role change did besides the change itself.
type RoleChange struct {
	// Previous is the role the changed user had before ("" = none). For TransferOwnership it is the new owner's.
	Previous string
	// RevokedTokens counts API tokens scoped to the project that died with the role (K7): a token scoped to a
	// project stays void even if its user is later given a role there again.
	RevokedTokens int64
	// RevokedInvitations counts pending invitations that died: those the user had sent, once no longer an owner,
	// and those addressed to the user, once removed.
	RevokedInvitations int64
}

const (
	invitationPending        = `accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL`
	invitationPendingAliased = `i.accepted_at IS NULL AND i.declined_at IS NULL AND i.revoked_at IS NULL`
)

const invitationSelect = `SELECT i.id, i.project_id, p.name, i.invitee_id, ue.username, COALESCE(i.inviter_id, 0),
	COALESCE(ur.username, ''), i.role, i.then_inviter, i.token_hash, i.created_at, i.expires_at, i.accepted_at,
	i.declined_at, i.revoked_at
	FROM invitations i JOIN projects p ON p.id = i.project_id JOIN users ue ON ue.id = i.invitee_id
	LEFT JOIN users ur ON ur.id = i.inviter_id`

func scanInvitation(row interface{ Scan(...any) error }) (Invitation, error) {
	var i Invitation
	var created, expires int64
	var accepted, declined, revoked sql.NullInt64
	err := row.Scan(&i.ID, &i.ProjectID, &i.ProjectName, &i.InviteeID, &i.InviteeName, &i.InviterID, &i.InviterName,
		&i.Role, &i.ThenInviter, &i.TokenHash, &created, &expires, &accepted, &declined, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return Invitation{}, ErrNotFound
	}
	if err != nil {
		return Invitation{}, err
	}
	i.CreatedAt, i.ExpiresAt = fromMicros(created), fromMicros(expires)
	i.AcceptedAt, i.DeclinedAt, i.RevokedAt = fromNullMicros(accepted), fromNullMicros(declined), fromNullMicros(revoked)
	return i, nil
}

func (db *DB) invitations(ctx context.Context, where string, args ...any) ([]Invitation, error) {
	rows, err := db.sql.QueryContext(ctx, invitationSelect+` WHERE `+where+` ORDER BY i.id DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// lockProject serialises the role changes of one project, so that checks like "another owner remains" hold when
// the transaction commits. SQLite's immediate transactions serialise every writer already; on PostgreSQL the
// no-op update takes the project row's lock, in a statement both engines accept (SQLite has no FOR UPDATE).
// ErrNotFound when the project is gone.
func lockProject(ctx context.Context, tx *sql.Tx, projectID int64) error {
	return execOne(ctx, tx, `UPDATE projects SET last_serial = last_serial WHERE id = $1`, projectID)
}

func roleIn(ctx context.Context, tx *sql.Tx, projectID, userID int64) (string, error) {
	var role string
	err := tx.QueryRowContext(ctx, `SELECT role FROM roles WHERE project_id = $1 AND user_id = $2`, projectID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

func ownersIn(ctx context.Context, tx *sql.Tx, projectID int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM roles WHERE project_id = $1 AND role = $2`, projectID, RoleOwner).Scan(&n)
	return n, err
}

// revokeSent revokes the pending invitations a user sent for a project: an invitation carries its inviter's
// authority, which ends when the inviter stops being an owner.
func revokeSent(ctx context.Context, tx *sql.Tx, projectID, userID, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1
		WHERE project_id = $2 AND inviter_id = $3 AND `+invitationPending, now, projectID, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// revokeReceived revokes the pending invitations addressed to a user for a project: removing someone says they
// should not have a role there, whatever an earlier invitation offered.
func revokeReceived(ctx context.Context, tx *sql.Tx, projectID, userID, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1
		WHERE project_id = $2 AND invitee_id = $3 AND `+invitationPending, now, projectID, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// likeEscaper makes a value match itself only in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// revokeScopedTokens revokes a user's live API tokens whose scope names the project. Account-wide tokens stay:
// they serve the user's other projects, and the policy refuses them here as soon as the role is gone.
func revokeScopedTokens(ctx context.Context, tx *sql.Tx, projectID, userID, now int64) (int64, error) {
	var name string
	if err := tx.QueryRowContext(ctx, `SELECT normalized_name FROM projects WHERE id = $1`, projectID).Scan(&name); err != nil {
		return 0, err
	}
	// The column holds the scope's names separated by single spaces; padding it makes every name a " name " word.
	res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1
		WHERE user_id = $2 AND revoked_at IS NULL AND projects <> '' AND (' ' || projects || ' ') LIKE $3 ESCAPE '\'`,
		now, userID, "% "+likeEscaper.Replace(name)+" %")
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// leave takes a user's role away with everything that hung on it: their pending invitations, sent and received,
// and their tokens scoped to the project.
func leave(ctx context.Context, tx *sql.Tx, projectID, userID, now int64, ch *RoleChange) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM roles WHERE project_id = $1 AND user_id = $2`, projectID, userID); err != nil {
		return err
	}
	sent, err := revokeSent(ctx, tx, projectID, userID, now)
	if err != nil {
		return err
	}
	received, err := revokeReceived(ctx, tx, projectID, userID, now)
	if err != nil {
		return err
	}
	tokens, err := revokeScopedTokens(ctx, tx, projectID, userID, now)
	if err != nil {
		return err
	}
	ch.RevokedInvitations += sent + received
	ch.RevokedTokens += tokens
	return nil
}

// journalRole journals a change of a user's role on the project as PyPI's changelog words it (action "add Owner",
// "remove Maintainer" or "change Owner to Maintainer", the username as its detail). The serial moves, so every
// instance drops what it holds of the project at once: the JSON API's documents count its protected collaborators.
func journalRole(ctx context.Context, tx *sql.Tx, projectID int64, action string, userID, by, now int64) error {
	var username string
	if err := tx.QueryRowContext(ctx, `SELECT username FROM users WHERE id = $1`, userID).Scan(&username); err != nil {
		return err
	}
	return journal(ctx, tx, projectID, action, username, by, now, nil)
}

func changeWords(from, to string) string { return "change " + from + " to " + to }

// ProjectByID finds a project by id.
func (db *DB) ProjectByID(ctx context.Context, id int64) (Project, error) {
	p, err := scanProject(db.sql.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	if err != nil {
		return Project{}, fmt.Errorf("project %d: %w", id, err)
	}
	return p, nil
}

// OwnersCount counts a project's owners.
func (db *DB) OwnersCount(ctx context.Context, projectID int64) (int, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM roles WHERE project_id = $1 AND role = $2`,
		projectID, RoleOwner).Scan(&n); err != nil {
		return 0, fmt.Errorf("owners count: %w", err)
	}
	return n, nil
}

// ProjectsForUser lists the projects a user has a role on, by name.
func (db *DB) ProjectsForUser(ctx context.Context, userID int64) ([]UserProject, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT p.id, p.name, p.normalized_name, p.created_at, p.last_serial, p.total_size, max(r.role)
		 FROM project_roles r JOIN projects p ON p.id = r.project_id WHERE r.user_id = $1
		 GROUP BY p.id, p.name, p.normalized_name, p.created_at, p.last_serial, p.total_size ORDER BY p.normalized_name`, userID)
	if err != nil {
		return nil, fmt.Errorf("projects for user: %w", err)
	}
	defer rows.Close()
	var out []UserProject
	for rows.Next() {
		var up UserProject
		var created int64
		p := &up.Project
		if err := rows.Scan(&p.ID, &p.Name, &p.NormalizedName, &created, &p.LastSerial, &p.TotalSize, &up.Role); err != nil {
			return nil, fmt.Errorf("projects for user: %w", err)
		}
		p.CreatedAt = fromMicros(created)
		out = append(out, up)
	}
	return out, rows.Err()
}

// CreateInvitation records an invitation (ID and names are filled in from the database). Within one transaction
// it checks that the inviter is still an owner (ErrNotOwner), that the invitee has no role yet (ErrIsCollaborator)
// and no pending, unexpired invitation to the project (ErrAlreadyInvited).
func (db *DB) CreateInvitation(ctx context.Context, inv Invitation) (Invitation, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockProject(ctx, tx, inv.ProjectID); err != nil {
			return err
		}
		if role, err := roleIn(ctx, tx, inv.ProjectID, inv.InviterID); err != nil {
			return err
		} else if role != RoleOwner {
			return ErrNotOwner
		}
		if role, err := roleIn(ctx, tx, inv.ProjectID, inv.InviteeID); err != nil {
			return err
		} else if role != "" {
			return ErrIsCollaborator
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM invitations
			WHERE project_id = $1 AND invitee_id = $2 AND expires_at > $3 AND `+invitationPending,
			inv.ProjectID, inv.InviteeID, micros(inv.CreatedAt)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrAlreadyInvited
		}
		return tx.QueryRowContext(ctx,
			`INSERT INTO invitations (project_id, invitee_id, inviter_id, role, then_inviter, token_hash, created_at, expires_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			inv.ProjectID, inv.InviteeID, inv.InviterID, inv.Role, inv.ThenInviter, inv.TokenHash,
			micros(inv.CreatedAt), micros(inv.ExpiresAt)).Scan(&id)
	})
	if isUniqueViolation(err) {
		return Invitation{}, fmt.Errorf("create invitation: %w", ErrConflict)
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	return db.InvitationByID(ctx, id)
}

// InvitationByID finds an invitation in any state.
func (db *DB) InvitationByID(ctx context.Context, id int64) (Invitation, error) {
	inv, err := scanInvitation(db.sql.QueryRowContext(ctx, invitationSelect+` WHERE i.id = $1`, id))
	if err != nil {
		return Invitation{}, fmt.Errorf("invitation %d: %w", id, err)
	}
	return inv, nil
}

// InvitationByHash finds an invitation by the hash of its link's token, in any state.
func (db *DB) InvitationByHash(ctx context.Context, hash string) (Invitation, error) {
	inv, err := scanInvitation(db.sql.QueryRowContext(ctx, invitationSelect+` WHERE i.token_hash = $1`, hash))
	if err != nil {
		return Invitation{}, fmt.Errorf("invitation: %w", err)
	}
	return inv, nil
}

// InvitationsForProject lists a project's pending, unexpired invitations, newest first.
func (db *DB) InvitationsForProject(ctx context.Context, projectID int64, now time.Time) ([]Invitation, error) {
	out, err := db.invitations(ctx, `i.project_id = $1 AND i.expires_at > $2 AND `+invitationPendingAliased,
		projectID, micros(now))
	if err != nil {
		return nil, fmt.Errorf("project invitations: %w", err)
	}
	return out, nil
}

// InvitationsForUser lists the pending, unexpired invitations addressed to a user, newest first.
func (db *DB) InvitationsForUser(ctx context.Context, userID int64, now time.Time) ([]Invitation, error) {
	out, err := db.invitations(ctx, `i.invitee_id = $1 AND i.expires_at > $2 AND `+invitationPendingAliased,
		userID, micros(now))
	if err != nil {
		return nil, fmt.Errorf("user invitations: %w", err)
	}
	return out, nil
}

// AcceptInvitationByHash accepts the invitation of a link's token; see AcceptInvitation.
func (db *DB) AcceptInvitationByHash(ctx context.Context, hash string, inviteeID int64, now time.Time) (Invitation, error) {
	var id int64
	err := db.sql.QueryRowContext(ctx, `SELECT id FROM invitations WHERE token_hash = $1`, hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Invitation{}, fmt.Errorf("accept invitation: %w", ErrNotFound)
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("accept invitation: %w", err)
	}
	return db.AcceptInvitation(ctx, id, inviteeID, now)
}

// AcceptInvitation spends an invitation and gives its role, in one transaction that succeeds once however many
// callers race, and only while the invitation is addressed to inviteeID, pending, unexpired, and its inviter is
// still an owner. ErrNotFound otherwise, without saying which. A role the invitee already holds is never lowered.
// For a transfer of ownership, the inviter then becomes a maintainer or leaves, as the invitation says.
func (db *DB) AcceptInvitation(ctx context.Context, id, inviteeID int64, now time.Time) (Invitation, error) {
	at := micros(now)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// The project is locked before the invitation row is touched, in the same order as every role change
		// takes them, so two such transactions cannot deadlock.
		var projectID int64
		if err := tx.QueryRowContext(ctx, `SELECT project_id FROM invitations WHERE id = $1`, id).Scan(&projectID); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		var role, then string
		var inviterID int64
		err := tx.QueryRowContext(ctx, `UPDATE invitations SET accepted_at = $1
			WHERE id = $2 AND invitee_id = $3 AND expires_at > $1 AND `+invitationPending+`
			AND EXISTS (SELECT 1 FROM roles r WHERE r.project_id = invitations.project_id
			            AND r.user_id = invitations.inviter_id AND r.role = $4)
			RETURNING role, inviter_id, then_inviter`, at, id, inviteeID, RoleOwner).Scan(&role, &inviterID, &then)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		switch cur, err := roleIn(ctx, tx, projectID, inviteeID); {
		case err != nil:
			return err
		case cur == "":
			if _, err := tx.ExecContext(ctx, `INSERT INTO roles (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
				projectID, inviteeID, role, at); err != nil {
				return err
			}
			if err := journalRole(ctx, tx, projectID, "add "+role, inviteeID, inviteeID, at); err != nil {
				return err
			}
		case cur == RoleMaintainer && role == RoleOwner:
			if _, err := tx.ExecContext(ctx, `UPDATE roles SET role = $1 WHERE project_id = $2 AND user_id = $3`,
				RoleOwner, projectID, inviteeID); err != nil {
				return err
			}
			if err := journalRole(ctx, tx, projectID, changeWords(cur, role), inviteeID, inviteeID, at); err != nil {
				return err
			}
		}
		if then == "" || inviterID == inviteeID {
			return nil
		}
		var ch RoleChange
		if then == ThenLeave {
			if err := leave(ctx, tx, projectID, inviterID, at, &ch); err != nil {
				return err
			}
			return journalRole(ctx, tx, projectID, "remove "+RoleOwner, inviterID, inviteeID, at)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE roles SET role = $1 WHERE project_id = $2 AND user_id = $3`,
			RoleMaintainer, projectID, inviterID); err != nil {
			return err
		}
		if _, err := revokeSent(ctx, tx, projectID, inviterID, at); err != nil {
			return err
		}
		return journalRole(ctx, tx, projectID, changeWords(RoleOwner, RoleMaintainer), inviterID, inviteeID, at)
	})
	if err != nil {
		return Invitation{}, fmt.Errorf("accept invitation: %w", err)
	}
	return db.InvitationByID(ctx, id)
}

// DeclineInvitation marks a pending invitation addressed to inviteeID declined; ErrNotFound when there is none.
func (db *DB) DeclineInvitation(ctx context.Context, id, inviteeID int64, now time.Time) (Invitation, error) {
	err := execOne(ctx, db.sql, `UPDATE invitations SET declined_at = $1 WHERE id = $2 AND invitee_id = $3 AND `+invitationPending,
		micros(now), id, inviteeID)
	if err != nil {
		return Invitation{}, fmt.Errorf("decline invitation: %w", err)
	}
	return db.InvitationByID(ctx, id)
}

// RevokeInvitation withdraws a pending invitation of the project; the project id keeps an owner of one project
// from revoking another's invitations by id. ErrNotFound when there is none.
func (db *DB) RevokeInvitation(ctx context.Context, id, projectID int64, now time.Time) (Invitation, error) {
	err := execOne(ctx, db.sql, `UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND project_id = $3 AND `+invitationPending,
		micros(now), id, projectID)
	if err != nil {
		return Invitation{}, fmt.Errorf("revoke invitation: %w", err)
	}
	return db.InvitationByID(ctx, id)
}

// RemoveRole takes a user's role on a project away, with the user's pending invitations for it (sent and
// received) and their API tokens scoped to it. ErrNotFound when the user has no role; ErrLastOwner when they are
// the only owner, which holds however many removals race.
func (db *DB) RemoveRole(ctx context.Context, projectID, userID, by int64, now time.Time) (RoleChange, error) {
	var ch RoleChange
	at := micros(now)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		role, err := roleIn(ctx, tx, projectID, userID)
		if err != nil {
			return err
		}
		if role == "" {
			return ErrNotFound
		}
		if role == RoleOwner {
			n, err := ownersIn(ctx, tx, projectID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastOwner
			}
		}
		ch.Previous = role
		if err := leave(ctx, tx, projectID, userID, at, &ch); err != nil {
			return err
		}
		return journalRole(ctx, tx, projectID, "remove "+role, userID, by, at)
	})
	if err != nil {
		return RoleChange{}, fmt.Errorf("remove role: %w", err)
	}
	return ch, nil
}

// ChangeRole sets the role of a user who has one (ErrNotFound otherwise). Setting the role they have is a no-op.
// An owner who becomes a maintainer loses the invitations they sent; the last owner cannot (ErrLastOwner).
func (db *DB) ChangeRole(ctx context.Context, projectID, userID int64, role string, by int64, now time.Time) (RoleChange, error) {
	var ch RoleChange
	at := micros(now)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		cur, err := roleIn(ctx, tx, projectID, userID)
		if err != nil {
			return err
		}
		ch.Previous = cur
		switch {
		case cur == "":
			return ErrNotFound
		case cur == role:
			return nil
		case cur == RoleOwner:
			n, err := ownersIn(ctx, tx, projectID)
			if err != nil {
				return err
			}
			if n <= 1 {
				return ErrLastOwner
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE roles SET role = $1 WHERE project_id = $2 AND user_id = $3`,
			role, projectID, userID); err != nil {
			return err
		}
		if cur == RoleOwner {
			if ch.RevokedInvitations, err = revokeSent(ctx, tx, projectID, userID, at); err != nil {
				return err
			}
		}
		return journalRole(ctx, tx, projectID, changeWords(cur, role), userID, by, at)
	})
	if err != nil {
		return RoleChange{}, fmt.Errorf("change role: %w", err)
	}
	return ch, nil
}

// TransferOwnership makes toID, who must already have a role (ErrNotFound otherwise), an owner, and fromID, who
// must be an owner (ErrNotOwner otherwise), a maintainer (then = ThenMaintainer) or no collaborator at all
// (ThenLeave), in one transaction. The result's Previous is toID's former role; its revocations are fromID's.
func (db *DB) TransferOwnership(ctx context.Context, projectID, fromID, toID int64, then string, now time.Time) (RoleChange, error) {
	var ch RoleChange
	at := micros(now)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if fromID == toID {
			return ErrConflict
		}
		if then != ThenMaintainer && then != ThenLeave {
			return fmt.Errorf("unknown outcome %q for the previous owner", then)
		}
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		if role, err := roleIn(ctx, tx, projectID, fromID); err != nil {
			return err
		} else if role != RoleOwner {
			return ErrNotOwner
		}
		to, err := roleIn(ctx, tx, projectID, toID)
		if err != nil {
			return err
		}
		if to == "" {
			return ErrNotFound
		}
		ch.Previous = to
		if to != RoleOwner {
			if _, err := tx.ExecContext(ctx, `UPDATE roles SET role = $1 WHERE project_id = $2 AND user_id = $3`,
				RoleOwner, projectID, toID); err != nil {
				return err
			}
			if err := journalRole(ctx, tx, projectID, changeWords(to, RoleOwner), toID, fromID, at); err != nil {
				return err
			}
		}
		if then == ThenLeave {
			if err := leave(ctx, tx, projectID, fromID, at, &ch); err != nil {
				return err
			}
			return journalRole(ctx, tx, projectID, "remove "+RoleOwner, fromID, fromID, at)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE roles SET role = $1 WHERE project_id = $2 AND user_id = $3`,
			RoleMaintainer, projectID, fromID); err != nil {
			return err
		}
		if ch.RevokedInvitations, err = revokeSent(ctx, tx, projectID, fromID, at); err != nil {
			return err
		}
		return journalRole(ctx, tx, projectID, changeWords(RoleOwner, RoleMaintainer), fromID, fromID, at)
	})
	if err != nil {
		return RoleChange{}, fmt.Errorf("transfer ownership: %w", err)
	}
	return ch, nil
}

func filesWhere(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]File, error) {
	rows, err := tx.QueryContext(ctx, fileSelect+` WHERE `+where+` ORDER BY f.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// DeleteRelease removes a release and all its files from the index and returns the files. Their names stay in
// the filename registry, so none can ever be uploaded again; blobs are left for fsck / garbage collection.
func (db *DB) DeleteRelease(ctx context.Context, projectID int64, canonicalVersion string, userID int64, now time.Time) ([]File, error) {
	var files []File
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var releaseID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM releases WHERE project_id = $1 AND canonical_version = $2`,
			projectID, canonicalVersion).Scan(&releaseID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if files, err = filesWhere(ctx, tx, `f.release_id = $1`, releaseID); err != nil {
			return err
		}
		var size int64
		for _, f := range files {
			size += f.Size
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE release_id = $1`, releaseID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM releases WHERE id = $1`, releaseID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projects SET total_size = total_size - $1 WHERE id = $2`, size, projectID); err != nil {
			return err
		}
		// The project's latest release may be another one now, or none.
		if err := refreshSearch(ctx, tx, db.engine, searchProject, projectID); err != nil {
			return err
		}
		return journal(ctx, tx, projectID, "remove release", canonicalVersion, userID, micros(now), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("delete release %s: %w", canonicalVersion, err)
	}
	return files, nil
}

// DeleteProject removes a project with its releases, files, roles and invitations, and returns what it was.
// Filenames stay in the registry. When reserveReason is not empty the name is reserved in the same transaction,
// so that no one can register it in between (an administrator's earlier reservation is kept as it was).
//
// The journal row that announces the removal outlives the project (its project_id becomes NULL) and carries the
// name as its detail, so that the serial moves and readers of the journal learn which name went away.
func (db *DB) DeleteProject(ctx context.Context, projectID, userID int64, now time.Time, reserveReason string) (Project, []File, error) {
	var p Project
	var files []File
	at := micros(now)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		var err error
		if p, err = scanProject(tx.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, projectID)); err != nil {
			return err
		}
		if files, err = filesWhere(ctx, tx, `f.project_id = $1`, projectID); err != nil {
			return err
		}
		if err := journal(ctx, tx, projectID, "remove project", p.NormalizedName, userID, at, nil); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM projects WHERE id = $1`, projectID); err != nil {
			return err
		}
		// SQLite's full-text index has no foreign key to cascade from the project.
		if err := refreshSearch(ctx, tx, db.engine, searchProject, projectID); err != nil {
			return err
		}
		if reserveReason == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO reserved_names (normalized_name, reason, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (normalized_name) DO NOTHING`, p.NormalizedName, reserveReason, at)
		return err
	})
	if err != nil {
		return Project{}, nil, fmt.Errorf("delete project %d: %w", projectID, err)
	}
	return p, files, nil
}
