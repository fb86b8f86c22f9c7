package web

import (
	"net/http"
	"strings"
	"time"

	"wharf/internal/store"
)

// helpPage is what the help page says of this index in particular, beside its name and address.
type helpPage struct {
	// CriticalKeys and CriticalTrusted say whether this index holds every critical project to security keys and to
	// Trusted Publishing only, as the policy decides them.
	CriticalKeys, CriticalTrusted bool
	// Publishing says whether the index offers Trusted Publishing.
	Publishing bool
	// Repository names the index in the .pypirc example.
	Repository string
}

// Help is /help/: one page whose sections, by their anchors, explain the rules that refuse something
// (policy.HelpSections); refusals link to them.
func (s *Site) Help(w http.ResponseWriter, r *http.Request) error {
	critical := store.Protection{CriticalSince: time.Unix(1, 0)}
	return s.render(w, r, http.StatusOK, "help", "Help", helpPage{
		CriticalKeys: s.policy.RequiresKeys(critical), CriticalTrusted: s.policy.TrustedPublishingOnly(critical),
		Publishing: s.publish != nil, Repository: repositoryName(s.siteName),
	}, "")
}

// repositoryName makes the site's name usable as a .pypirc section and a twine --repository value: lower case
// letters, digits and dashes.
func repositoryName(site string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(site) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	if name := strings.TrimSuffix(b.String(), "-"); name != "" {
		return name
	}
	return "index"
}
