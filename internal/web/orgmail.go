package web

import (
	"context"

	"wharf/internal/notify"
	"wharf/internal/store"
)

// NotifyOrg mails people of a change to an organization (orgs.Notifier), through the mail queue: the domain says
// who and what, the queue keeps the delivery off the request's path.
func (s *Site) NotifyOrg(ctx context.Context, to []int64, o store.Organization, text string) {
	for _, id := range to {
		acct, err := s.db.AccountByID(ctx, id)
		if err != nil {
			s.log.Warn("organization mail recipient not found", "user", id, "err", err)
			continue
		}
		m, err := s.letters.OrgChanged(acct.Email, o.Name, text)
		s.queue(notify.KindOrgChanged, m, err)
	}
}
