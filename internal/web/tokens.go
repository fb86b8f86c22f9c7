package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"wharf/internal/httperror"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// tokenExpiry is one lifetime the token form offers: a number of days, or "never".
type tokenExpiry struct {
	Value string
	Label string
}

// tokenExpiries are the lifetimes a token may have. A token copied into a CI secret tends to outlive the job it was
// made for; one that expires stops working on its own after it leaked from an old log.
var tokenExpiries = []tokenExpiry{
	{"30", "30 days"}, {"90", "90 days"}, {"180", "180 days"}, {"365", "1 year"}, {"never", "No expiry"},
}

// defaultExpiry is the lifetime the form preselects, and the one a form posted without the field gets: leaving the
// choice out never makes a token that lives for ever.
const defaultExpiry = "90"

const maxTokenName = 100

type tokenRow struct {
	store.Token
	Expired bool
}

type tokensPage struct {
	Tokens   []tokenRow
	Projects []listed // the user's projects, alphabetical: the scopes a token may have
	Verified bool
	// Scope and Expiry are what the creation form preselects: the narrowest scope the user can use (their first
	// project, when they have one) and a lifetime of defaultExpiry.
	Scope    string
	Expiries []tokenExpiry
	Expiry   string
}

// Tokens lists the user's API tokens and offers to create one. Like PyPI it needs a recent re-authentication to
// open, since creating and revoking do. It opens as the page that revokes: an account the 2FA mandate holds may
// not create tokens, but must still see and revoke the ones it has.
func (s *Site) Tokens(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.RevokeToken)
	if v == nil {
		return err
	}
	ctx := r.Context()
	toks, err := s.db.TokensForUser(ctx, v.account.ID)
	if err != nil {
		return err
	}
	projects, err := s.db.ProjectsOfUser(ctx, v.account.ID)
	if err != nil {
		return err
	}
	p := tokensPage{Projects: listProjects(projects), Verified: !v.account.EmailVerifiedAt.IsZero(),
		Scope: "account", Expiries: tokenExpiries, Expiry: defaultExpiry}
	if len(p.Projects) > 0 {
		p.Scope = "projects"
	}
	now := s.now()
	for _, t := range toks {
		p.Tokens = append(p.Tokens, tokenRow{Token: t, Expired: !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)})
	}
	return s.render(w, r, http.StatusOK, "tokens", "API tokens", p, "")
}

// tokenCreated is the page that shows a new token, once.
type tokenCreated struct {
	Token  string
	Record store.Token
	Scope  string
}

// CreateToken mints a token and shows it once, on a response no cache may keep (K8). The owner is mailed, so that
// a token made by someone else does not go unnoticed.
func (s *Site) CreateToken(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.CreateToken, back: "/manage/account/token/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	if v.account.EmailVerifiedAt.IsZero() {
		return httperror.New(http.StatusBadRequest, "Verify your email address before creating API tokens: the link is in the mail we sent, or ask for a new one on your account page.")
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || utf8.RuneCountInString(name) > maxTokenName || strings.ContainsFunc(name, isControl) {
		return httperror.New(http.StatusBadRequest, "Give the token a name of 1 to %d characters, to recognise it later.", maxTokenName)
	}
	expiry := r.PostForm.Get("expires_days")
	if expiry == "" {
		expiry = defaultExpiry
	}
	if !slices.ContainsFunc(tokenExpiries, func(e tokenExpiry) bool { return e.Value == expiry }) {
		return httperror.New(http.StatusBadRequest, "Choose one of the offered expiry times: 30, 90, 180 or 365 days, or no expiry.")
	}
	var scope []string
	switch r.PostForm.Get("scope") {
	case "account":
	case "projects":
		mine, err := s.db.ProjectsOfUser(ctx, v.account.ID)
		if err != nil {
			return err
		}
		for _, name := range r.PostForm["project"] {
			n := pypkg.NormalizeName(name)
			if !slices.ContainsFunc(mine, func(p store.ProjectSummary) bool { return p.NormalizedName == n }) {
				return httperror.New(http.StatusBadRequest, "A token can only be scoped to projects you are an Owner or Maintainer of.")
			}
			scope = append(scope, n)
		}
		if len(scope) == 0 {
			return httperror.New(http.StatusBadRequest, "Choose at least one project, or scope the token to all your projects.")
		}
	default:
		return httperror.New(http.StatusBadRequest, "Choose the token's scope: some of your projects, or all of them.")
	}
	var expires time.Time
	if expiry != "never" {
		days, _ := strconv.Atoi(expiry)
		expires = s.now().Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
	}
	token, rec, err := s.tokens.Create(ctx, v.account.User, name, scope, expires, requestOf(r))
	if err != nil {
		return err
	}
	scopeText := "all projects"
	if len(rec.Projects) > 0 {
		scopeText = "projects: " + strings.Join(rec.Projects, ", ")
	}
	m, err := s.letters.TokenCreated(v.account.Email, rec.Name, scopeText)
	s.queue(notify.KindTokenCreated, m, err)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	return s.render(w, r, http.StatusOK, "token_created", "Your new API token", tokenCreated{token, rec, scopeText}, "")
}

// RevokeToken revokes one of the user's tokens; another user's token is not found, exactly like a missing one (K4).
func (s *Site) RevokeToken(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.RevokeToken, back: "/manage/account/token/"})
	if v == nil {
		return err
	}
	id := r.PostForm.Get("token_id")
	err = s.tokens.Revoke(r.Context(), v.account.ID, id, requestOf(r))
	if errors.Is(err, store.ErrNotFound) {
		return httperror.New(http.StatusNotFound, "There is no such token.")
	}
	if err != nil {
		return err
	}
	redirect(w, r, "/manage/account/token/?notice=token-revoked")
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
