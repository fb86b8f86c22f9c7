package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The roles of an organization's members. Owners administer the organization and every project it holds;
// Managers manage its teams and members below Owner; Members belong.
const (
	OrgRoleOwner   = "Owner"
	OrgRoleManager = "Manager"
	OrgRoleMember  = "Member"
)

// ErrLastOrgOwner refuses a change that would leave an organization without an Owner.
var ErrLastOrgOwner = errors.New("an organization must keep at least one Owner")

// Organization is a group of accounts that holds projects.
type Organization struct {
	ID             int64
	Name           string
	NormalizedName string
	DisplayName    string
	Description    string
	// The settings an Owner sets once for every project of the organization.
	Require2FA, RequireWebAuthn, TrustedPublishingOnly bool
	Staging                                            string
	// ApprovedAt is zero while the request for the organization waits for an administrator.
	ApprovedAt time.Time
	CreatedBy  int64
	CreatedAt  time.Time
}

// OrgMember is a member of an organization, with what the rules read of the account.
type OrgMember struct {
	UserID      int64
	Username    string
	Role        string
	HasTOTP     bool
	HasWebAuthn bool
	Since       time.Time
}

// TwoFactor reports whether the member has a second factor.
func (m OrgMember) TwoFactor() bool { return m.HasTOTP || m.HasWebAuthn }

// Team is a group of an organization's members with roles on its projects.
type Team struct {
	ID             int64
	OrgID          int64
	Name           string
	NormalizedName string
	CreatedAt      time.Time
}

// TeamGrant is a team's role on a project.
type TeamGrant struct {
	TeamID    int64
	ProjectID int64
	Project   string
	Role      string
}

const orgColumns = `id, name, normalized_name, display_name, description, require_2fa, require_webauthn,
	trusted_publishing_only, staging, approved_at, COALESCE(created_by, 0), created_at`

func scanOrg(row interface{ Scan(...any) error }) (Organization, error) {
	var o Organization
	var approved sql.NullInt64
	var created int64
	err := row.Scan(&o.ID, &o.Name, &o.NormalizedName, &o.DisplayName, &o.Description, &o.Require2FA, &o.RequireWebAuthn,
		&o.TrustedPublishingOnly, &o.Staging, &approved, &o.CreatedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Organization{}, ErrNotFound
	}
	o.ApprovedAt, o.CreatedAt = fromNullMicros(approved), fromMicros(created)
	return o, err
}

// ErrNameTaken refuses an organization name that an organization or a user has (by the identity key of
// usernames), or a username an organization has.
var ErrNameTaken = errors.New("the name is taken")

// CreateOrganization records an organization with its creator as its first Owner (when ownerID is not 0). The
// name is refused with ErrNameTaken when an organization has it or a user's name has the same identity key
// (userKey, computed by the caller with ident.Key).
func (db *DB) CreateOrganization(ctx context.Context, o Organization, userKey string, ownerID int64) (Organization, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE username_key = $1`, userKey).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrNameTaken
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO organizations (name, normalized_name, display_name, description,
			approved_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			o.Name, o.NormalizedName, o.DisplayName, o.Description, nullMicros(o.ApprovedAt), nullID(o.CreatedBy),
			micros(o.CreatedAt)).Scan(&o.ID); err != nil {
			return err
		}
		if ownerID == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			o.ID, ownerID, OrgRoleOwner, micros(o.CreatedAt))
		return err
	})
	if isUniqueViolation(err) {
		err = ErrNameTaken
	}
	if err != nil {
		return Organization{}, fmt.Errorf("create organization %s: %w", o.Name, err)
	}
	return o, nil
}

// OrganizationByName returns an organization by its normalised name.
func (db *DB) OrganizationByName(ctx context.Context, normalized string) (Organization, error) {
	o, err := scanOrg(db.sql.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE normalized_name = $1`, normalized))
	if err != nil {
		return Organization{}, fmt.Errorf("organization %q: %w", normalized, err)
	}
	return o, nil
}

// OrganizationByID returns an organization.
func (db *DB) OrganizationByID(ctx context.Context, id int64) (Organization, error) {
	o, err := scanOrg(db.sql.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id))
	if err != nil {
		return Organization{}, fmt.Errorf("organization %d: %w", id, err)
	}
	return o, nil
}

// Organizations lists every organization by name.
func (db *DB) Organizations(ctx context.Context) ([]Organization, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+orgColumns+` FROM organizations ORDER BY normalized_name`)
	if err != nil {
		return nil, fmt.Errorf("organizations: %w", err)
	}
	defer rows.Close()
	var out []Organization
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("organizations: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// UserNameIsOrganization reports whether a username would take an organization's name.
func (db *DB) UserNameIsOrganization(ctx context.Context, normalized string) (bool, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM organizations WHERE normalized_name = $1`, normalized).Scan(&n); err != nil {
		return false, fmt.Errorf("organization name: %w", err)
	}
	return n > 0, nil
}

// UpdateOrganization saves an organization's display name, description and settings.
func (db *DB) UpdateOrganization(ctx context.Context, o Organization) error {
	err := execOne(ctx, db.sql, `UPDATE organizations SET display_name = $1, description = $2, require_2fa = $3,
		require_webauthn = $4, trusted_publishing_only = $5, staging = $6 WHERE id = $7`,
		o.DisplayName, o.Description, o.Require2FA || o.RequireWebAuthn, o.RequireWebAuthn, o.TrustedPublishingOnly, o.Staging, o.ID)
	if err != nil {
		return fmt.Errorf("update organization %s: %w", o.Name, err)
	}
	return nil
}

// ApproveOrganization ends the wait of a requested organization.
func (db *DB) ApproveOrganization(ctx context.Context, id int64, now time.Time) error {
	if err := execOne(ctx, db.sql, `UPDATE organizations SET approved_at = $1 WHERE id = $2 AND approved_at IS NULL`, micros(now), id); err != nil {
		return fmt.Errorf("approve organization %d: %w", id, err)
	}
	return nil
}

// OrgMembers lists an organization's members by username, with their second factors.
func (db *DB) OrgMembers(ctx context.Context, orgID int64) ([]OrgMember, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT m.user_id, u.username, m.role, m.created_at,
		EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = u.id),
		EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = u.id)
		FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.username`, orgID)
	if err != nil {
		return nil, fmt.Errorf("organization members: %w", err)
	}
	defer rows.Close()
	var out []OrgMember
	for rows.Next() {
		var m OrgMember
		var since int64
		if err := rows.Scan(&m.UserID, &m.Username, &m.Role, &since, &m.HasTOTP, &m.HasWebAuthn); err != nil {
			return nil, fmt.Errorf("organization members: %w", err)
		}
		m.Since = fromMicros(since)
		out = append(out, m)
	}
	return out, rows.Err()
}

// OrgRoleOf is a user's role in an organization, "" for none.
func (db *DB) OrgRoleOf(ctx context.Context, orgID, userID int64) (string, error) {
	var role string
	err := db.sql.QueryRowContext(ctx, `SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("organization role: %w", err)
	}
	return role, nil
}

// SetOrgMember gives a user a role in an organization, or changes it.
func (db *DB) SetOrgMember(ctx context.Context, orgID, userID int64, role string, now time.Time) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, role, micros(now))
	if err != nil {
		return fmt.Errorf("set organization member: %w", err)
	}
	return nil
}

// RemoveOrgMember takes a user out of an organization and its teams, unless they are its last Owner. The check
// and the removal are one transaction, so two Owners leaving at once cannot both go.
func (db *DB) RemoveOrgMember(ctx context.Context, orgID, userID int64) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		var role string
		if err := tx.QueryRowContext(ctx, `SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&role); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if role == OrgRoleOwner {
			var owners int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM org_members WHERE org_id = $1 AND role = $2`, orgID, OrgRoleOwner).Scan(&owners); err != nil {
				return err
			}
			if owners <= 1 {
				return ErrLastOrgOwner
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM team_members WHERE user_id = $1 AND team_id IN (SELECT id FROM teams WHERE org_id = $2)`, userID, orgID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove organization member: %w", err)
	}
	return nil
}

// ChangeOrgRole changes a member's role, unless that takes the last Owner away.
func (db *DB) ChangeOrgRole(ctx context.Context, orgID, userID int64, role string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		var current string
		if err := tx.QueryRowContext(ctx, `SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2`, orgID, userID).Scan(&current); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if current == OrgRoleOwner && role != OrgRoleOwner {
			var owners int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM org_members WHERE org_id = $1 AND role = $2`, orgID, OrgRoleOwner).Scan(&owners); err != nil {
				return err
			}
			if owners <= 1 {
				return ErrLastOrgOwner
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3`, role, orgID, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("change organization role: %w", err)
	}
	return nil
}

// lockOrg serialises changes of one organization's members (PostgreSQL row lock; SQLite has one writer anyway).
func lockOrg(ctx context.Context, tx *sql.Tx, orgID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE organizations SET description = description WHERE id = $1`, orgID)
	return err
}

// InviteOrgMember records an invitation (a second invitation of the same user replaces the first).
func (db *DB) InviteOrgMember(ctx context.Context, orgID, userID int64, role string, by int64, now, expires time.Time) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO org_invitations (org_id, user_id, role, invited_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role,
		invited_by = excluded.invited_by, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		orgID, userID, role, nullID(by), micros(now), micros(expires))
	if err != nil {
		return fmt.Errorf("invite to organization: %w", err)
	}
	return nil
}

// OrgInvitation is an invitation that waits.
type OrgInvitation struct {
	OrgID     int64
	Org       string
	UserID    int64
	Username  string
	Role      string
	ExpiresAt time.Time
}

// OrgInvitations lists the live invitations of an organization (orgID) or of a user (userID), at now.
func (db *DB) OrgInvitations(ctx context.Context, orgID, userID int64, now time.Time) ([]OrgInvitation, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT i.org_id, o.name, i.user_id, u.username, i.role, i.expires_at
		FROM org_invitations i JOIN organizations o ON o.id = i.org_id JOIN users u ON u.id = i.user_id
		WHERE ($1 = 0 OR i.org_id = $1) AND ($2 = 0 OR i.user_id = $2) AND i.expires_at > $3 ORDER BY o.normalized_name, u.username`,
		orgID, userID, micros(now))
	if err != nil {
		return nil, fmt.Errorf("organization invitations: %w", err)
	}
	defer rows.Close()
	var out []OrgInvitation
	for rows.Next() {
		var inv OrgInvitation
		var expires int64
		if err := rows.Scan(&inv.OrgID, &inv.Org, &inv.UserID, &inv.Username, &inv.Role, &expires); err != nil {
			return nil, fmt.Errorf("organization invitations: %w", err)
		}
		inv.ExpiresAt = fromMicros(expires)
		out = append(out, inv)
	}
	return out, rows.Err()
}

// AnswerOrgInvitation takes a live invitation away and, when accepted, makes the user a member with its role, in
// one transaction; the role it gave is returned. A missing or expired invitation is ErrNotFound.
func (db *DB) AnswerOrgInvitation(ctx context.Context, orgID, userID int64, accept bool, now time.Time) (string, error) {
	var role string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM org_invitations WHERE org_id = $1 AND user_id = $2 AND expires_at > $3 RETURNING role`,
			orgID, userID, micros(now)).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || !accept {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`, orgID, userID, role, micros(now))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("answer organization invitation: %w", err)
	}
	return role, nil
}

// CreateTeam records a team; a name used twice in one organization is ErrConflict.
func (db *DB) CreateTeam(ctx context.Context, t Team) (Team, error) {
	err := db.sql.QueryRowContext(ctx, `INSERT INTO teams (org_id, name, normalized_name, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		t.OrgID, t.Name, t.NormalizedName, micros(t.CreatedAt)).Scan(&t.ID)
	if isUniqueViolation(err) {
		err = ErrConflict
	}
	if err != nil {
		return Team{}, fmt.Errorf("create team %s: %w", t.Name, err)
	}
	return t, nil
}

// Teams lists an organization's teams by name.
func (db *DB) Teams(ctx context.Context, orgID int64) ([]Team, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, org_id, name, normalized_name, created_at FROM teams WHERE org_id = $1 ORDER BY normalized_name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("teams: %w", err)
	}
	defer rows.Close()
	var out []Team
	for rows.Next() {
		var t Team
		var created int64
		if err := rows.Scan(&t.ID, &t.OrgID, &t.Name, &t.NormalizedName, &created); err != nil {
			return nil, fmt.Errorf("teams: %w", err)
		}
		t.CreatedAt = fromMicros(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// TeamByName returns a team of an organization.
func (db *DB) TeamByName(ctx context.Context, orgID int64, normalized string) (Team, error) {
	var t Team
	var created int64
	err := db.sql.QueryRowContext(ctx, `SELECT id, org_id, name, normalized_name, created_at FROM teams WHERE org_id = $1 AND normalized_name = $2`,
		orgID, normalized).Scan(&t.ID, &t.OrgID, &t.Name, &t.NormalizedName, &created)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Team{}, fmt.Errorf("team %q: %w", normalized, err)
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// DeleteTeam removes a team with its members and grants.
func (db *DB) DeleteTeam(ctx context.Context, teamID int64) error {
	if err := execOne(ctx, db.sql, `DELETE FROM teams WHERE id = $1`, teamID); err != nil {
		return fmt.Errorf("delete team %d: %w", teamID, err)
	}
	return nil
}

// TeamMembers lists a team's members' usernames.
func (db *DB) TeamMembers(ctx context.Context, teamID int64) ([]string, error) {
	return db.strings(ctx, `SELECT u.username FROM team_members tm JOIN users u ON u.id = tm.user_id WHERE tm.team_id = $1 ORDER BY u.username`, teamID)
}

// SetTeamMember adds (in) or removes a user from a team.
func (db *DB) SetTeamMember(ctx context.Context, teamID, userID int64, in bool) error {
	var err error
	if in {
		_, err = db.sql.ExecContext(ctx, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, teamID, userID)
	} else {
		err = execOne(ctx, db.sql, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID)
	}
	if err != nil {
		return fmt.Errorf("team member: %w", err)
	}
	return nil
}

// TeamGrants lists the roles of an organization's teams on its projects.
func (db *DB) TeamGrants(ctx context.Context, orgID int64) ([]TeamGrant, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT tp.team_id, tp.project_id, p.name, tp.role FROM team_projects tp
		JOIN teams t ON t.id = tp.team_id JOIN projects p ON p.id = tp.project_id WHERE t.org_id = $1 ORDER BY p.normalized_name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("team grants: %w", err)
	}
	defer rows.Close()
	var out []TeamGrant
	for rows.Next() {
		var g TeamGrant
		if err := rows.Scan(&g.TeamID, &g.ProjectID, &g.Project, &g.Role); err != nil {
			return nil, fmt.Errorf("team grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// SetTeamGrant gives a team a role on a project of its organization ("" takes it away), journaled as a user's role
// changes are, with "team NAME" as the detail. A project outside the team's organization, or taking away a grant
// the team does not have, is ErrNotFound.
func (db *DB) SetTeamGrant(ctx context.Context, teamID, projectID int64, role string, by int64, now time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := lockProject(ctx, tx, projectID); err != nil {
			return err
		}
		var team, cur string
		err := tx.QueryRowContext(ctx, `SELECT t.name, COALESCE((SELECT g.role FROM team_projects g
				WHERE g.team_id = t.id AND g.project_id = p.id), '')
			FROM teams t JOIN projects p ON p.org_id = t.org_id WHERE t.id = $1 AND p.id = $2`, teamID, projectID).Scan(&team, &cur)
		switch {
		case errors.Is(err, sql.ErrNoRows), err == nil && role == "" && cur == "":
			return ErrNotFound
		case err != nil:
			return err
		case cur == role:
			return nil
		}
		action := changeWords(cur, role)
		switch {
		case role == "":
			action = "remove " + cur
			_, err = tx.ExecContext(ctx, `DELETE FROM team_projects WHERE team_id = $1 AND project_id = $2`, teamID, projectID)
		case cur == "":
			action = "add " + role
			_, err = tx.ExecContext(ctx, `INSERT INTO team_projects (team_id, project_id, role) VALUES ($1, $2, $3)`,
				teamID, projectID, role)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE team_projects SET role = $1 WHERE team_id = $2 AND project_id = $3`,
				role, teamID, projectID)
		}
		if err != nil {
			return err
		}
		return journal(ctx, tx, projectID, action, "team "+team, by, micros(now), nil)
	})
	if err != nil {
		return fmt.Errorf("team grant: %w", err)
	}
	return nil
}

// OrgProjects lists the projects an organization holds.
func (db *DB) OrgProjects(ctx context.Context, orgID int64) ([]Project, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE org_id = $1 ORDER BY normalized_name`, orgID)
	if err != nil {
		return nil, fmt.Errorf("organization projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("organization projects: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ProjectOrg is the organization that holds a project, 0 for none.
func (db *DB) ProjectOrg(ctx context.Context, projectID int64) (int64, error) {
	var org sql.NullInt64
	if err := db.sql.QueryRowContext(ctx, `SELECT org_id FROM projects WHERE id = $1`, projectID).Scan(&org); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = ErrNotFound
		}
		return 0, fmt.Errorf("project organization: %w", err)
	}
	return org.Int64, nil
}

// MoveProject puts a project into an organization (orgID), or takes it out (0). Taking it out, or moving it to
// another organization, drops every team's grant on it in the same transaction, so that no grant of the old
// organization survives the move (K7); an organization's Owners stop being the project's Owners with it. A project
// moved out with no Owner of its own gets the mover (userID) as its Owner.
func (db *DB) MoveProject(ctx context.Context, projectID, orgID, userID int64, now time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, `UPDATE projects SET org_id = $1 WHERE id = $2`, nullID(orgID), projectID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM team_projects WHERE project_id = $1`, projectID); err != nil {
			return err
		}
		if orgID == 0 {
			// A project whose only Owners were the organization's would have none: the one who moves it out
			// becomes its Owner.
			if _, err := tx.ExecContext(ctx, `INSERT INTO roles (project_id, user_id, role, created_at)
				SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM roles WHERE project_id = $1 AND role = $3)
				ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, userID, RoleOwner, micros(now)); err != nil {
				return err
			}
		}
		detail := "out of its organization"
		if orgID != 0 {
			detail = fmt.Sprintf("into organization %d", orgID)
		}
		return journal(ctx, tx, projectID, "move project", detail, userID, micros(now), nil)
	})
	if err != nil {
		return fmt.Errorf("move project %d: %w", projectID, err)
	}
	return nil
}

// UserOrganizations lists the organizations a user belongs to, with the role.
func (db *DB) UserOrganizations(ctx context.Context, userID int64) ([]OrgInvitation, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT o.id, o.name, m.role FROM org_members m JOIN organizations o ON o.id = m.org_id
		WHERE m.user_id = $1 ORDER BY o.normalized_name`, userID)
	if err != nil {
		return nil, fmt.Errorf("user organizations: %w", err)
	}
	defer rows.Close()
	var out []OrgInvitation
	for rows.Next() {
		m := OrgInvitation{UserID: userID}
		if err := rows.Scan(&m.OrgID, &m.Org, &m.Role); err != nil {
			return nil, fmt.Errorf("user organizations: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (db *DB) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ProjectOwnerIDs lists the users who are Owners of a project by any grant: their own role, the organization
// that holds it, or a team.
func (db *DB) ProjectOwnerIDs(ctx context.Context, projectID int64) ([]int64, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT user_id FROM project_roles WHERE project_id = $1 AND role = $2 ORDER BY user_id`,
		projectID, RoleOwner)
	if err != nil {
		return nil, fmt.Errorf("project owners: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("project owners: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
