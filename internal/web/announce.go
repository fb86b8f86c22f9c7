package web

import (
	"context"

	"wharf/internal/store"
)

// Announce mails a project's Owners of a publish (upload.Announcer), through the mail queue: the domain decides
// who hears of it (projects.Manager.Published), the queue keeps the delivery off the upload's path.
func (s *Site) Announce(ctx context.Context, p store.Project, text string) {
	if s.projects == nil {
		return
	}
	ns, err := s.projects.Published(ctx, p, text)
	if err != nil {
		s.log.Warn("publish mail not sent", "project", p.NormalizedName, "err", err)
		return
	}
	s.mailNotices(ctx, ns, "")
}
