package tokens

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// PublisherStore is what verifying a Trusted Publishing token reads.
type PublisherStore interface {
	PublisherTokenByID(ctx context.Context, id string) (store.PublisherToken, error)
	PublishersByID(ctx context.Context, ids []int64) ([]store.Publisher, error)
	AccountByID(ctx context.Context, id int64) (store.Account, error)
	RevokePublisherToken(ctx context.Context, id string, now time.Time) error
}

// verifyPublisher turns a verified Trusted Publishing token into its actor: the publishers it was minted for that
// still exist (an Owner who removes a publisher ends its tokens at once), each with the project it publishes, or,
// pending, the name it creates and the account that will own it (TP4).
func (s *Service) verifyPublisher(ctx context.Context, v Verified, now time.Time) (policy.Actor, error) {
	db, ok := s.db.(PublisherStore)
	if !ok {
		return policy.Actor{}, s.invalid(policy.HelpTrustedPublishers, "Trusted Publishing is not enabled on this index")
	}
	rec, err := db.PublisherTokenByID(ctx, v.ID)
	if errors.Is(err, store.ErrNotFound) {
		return policy.Actor{}, s.invalid(policy.HelpTrustedPublishers, "the token does not exist")
	}
	if err != nil {
		return policy.Actor{}, unavailable(err)
	}
	switch {
	case !rec.RevokedAt.IsZero():
		return policy.Actor{}, s.invalid(policy.HelpTrustedPublishers, "the token was revoked")
	case !now.Before(rec.ExpiresAt):
		return policy.Actor{}, s.invalid(policy.HelpTrustedPublishers, "the token has expired: mint a new one from the CI job")
	}
	pubs, err := db.PublishersByID(ctx, rec.Publishers)
	if err != nil {
		return policy.Actor{}, unavailable(err)
	}
	p := policy.Publisher{TokenID: v.ID, Identity: DescribeIdentity(rec.Identity)}
	for _, pub := range pubs {
		g := policy.PublisherGrant{PublisherID: pub.ID, ProjectID: pub.ProjectID, PendingName: pub.PendingName}
		// The token's own projects caveat, which whoever holds it may have narrowed, bounds what the record says.
		if name := cmp.Or(pub.PendingName, pypkg.NormalizeName(pub.ProjectName)); !v.AllowsProject(name) {
			continue
		}
		if pub.Pending() {
			if !pub.ExpiresAt.IsZero() && !now.Before(pub.ExpiresAt) {
				continue
			}
			owner, err := db.AccountByID(ctx, pub.OwnerID)
			if err != nil {
				return policy.Actor{}, unavailable(err)
			}
			g.Owner = owner
		}
		p.Grants = append(p.Grants, g)
	}
	if len(p.Grants) == 0 {
		return policy.Actor{}, s.invalid(policy.HelpTrustedPublishers, "the Trusted Publishers it was minted for were removed")
	}
	return policy.PublisherActor(p), nil
}

func unavailable(err error) error {
	return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
}

// DescribeIdentity says in a line which CI job a Trusted Publishing token was minted for, from the identity its
// record keeps: for messages, the history and the release page.
func DescribeIdentity(id map[string]string) string {
	var parts []string
	add := func(format, key string) {
		if v := id[key]; v != "" {
			parts = append(parts, fmt.Sprintf(format, v))
		}
	}
	switch id["kind"] {
	case "github":
		add("GitHub repository %s", "repository")
	case "gitlab":
		add("GitLab project %s", "repository")
	case "google":
		add("Google service account %s", "repository")
	default:
		add("issuer %s", "issuer")
		add("subject %s", "subject")
		add("repository %s", "repository")
	}
	add("workflow %s", "workflow")
	add("reusable workflow %s", "reusable_workflow")
	add("environment %s", "environment")
	add("ref %s", "ref")
	add("sha %s", "sha")
	if len(parts) == 0 {
		return "a Trusted Publisher"
	}
	return strings.Join(parts, ", ")
}

// revokeLeakedPublisherToken ends a Trusted Publishing token found in public before its 15 minutes are up (K9). It
// belongs to no person, so nobody is mailed; the history of its projects records it.
func (s *Service) revokeLeakedPublisherToken(ctx context.Context, id, url string, from audit.Request) error {
	db, ok := s.db.(PublisherStore)
	if !ok {
		return nil
	}
	err := db.RevokePublisherToken(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil // unknown, or revoked already
	}
	if err != nil {
		return fmt.Errorf("revoke leaked token: %w", err)
	}
	s.audit.Record(ctx, audit.TokenLeaked, 0, 0, from, fmt.Sprintf("Trusted Publishing token %s found in public at %s", id, cmp.Or(url, "an address the reporter did not give")))
	return nil
}
