package web_test

import (
	"net/http"
	"strings"
	"testing"

	"wharf/internal/policy"
)

// TestHelpPage: the help page has a section for every rule a refusal links to (policy.HelpSections: a link to a
// missing section fails here), the others PyPI's help has, a contents list whose links all land, and the index's own
// name and address in its examples.
func TestHelpPage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		b := fx.browser("reader")
		p := b.get("/help/")
		wantStatus(t, p, http.StatusOK, "help")
		sections := []string{"recoverycodes"}
		for _, s := range policy.HelpSections {
			sections = append(sections, string(s))
		}
		for _, id := range sections {
			if p.find("section#"+id+" h2") == nil {
				t.Errorf("the help page has no section #%s with a heading", id)
			}
		}
		for _, a := range findAll(p.doc, "nav.help-toc a") {
			if id := strings.TrimPrefix(attr(a, "href"), "#"); p.find("#"+id) == nil {
				t.Errorf("the contents link %q, which leads nowhere", attr(a, "href"))
			}
		}
		if got := len(findAll(p.doc, "nav.help-toc a")); got != len(sections) {
			t.Errorf("the contents list %d sections, want %d", got, len(sections))
		}
		pypirc := p.text("section#apitoken pre")
		if !strings.Contains(pypirc, "[test-index]") || !strings.Contains(pypirc, "repository = "+fx.base+"/legacy/") {
			t.Errorf("the .pypirc example does not name this index: %q", pypirc)
		}
		if got := p.text("section#trusted-publishers"); !strings.Contains(got, fx.base+"/_/oidc/mint-token") {
			t.Errorf("the Trusted Publishing section does not give this index's exchange: %q", got)
		}
		if got := p.text("section#critical"); strings.Contains(got, "This index requires") || strings.Contains(got, "This index accepts uploads to it only") {
			t.Errorf("the critical section claims requirements this index does not set: %q", got)
		}
		wantRedirect301(t, b.get("/help"), "/help/")
		if find(b.get("/").doc, `footer a[href="/help/"]`) == nil {
			t.Error("the footer does not link the help page")
		}
	})
}

// TestRefusalLinksLand: a refusal the site shows ends with the link of its section, and that section is on the help
// page.
func TestRefusalLinksLand(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		b := fx.browser("alice")
		b.login("alice", testPassword)
		// Setting up Trusted Publishing needs a second factor, which alice does not have.
		refused := b.get("/manage/project/demo-pkg/publishing/").text("#denied")
		_, anchor, ok := strings.Cut(refused, "/help/#")
		if !ok {
			t.Fatalf("the refusal %q does not link the help", refused)
		}
		if anchor != string(policy.HelpTwoFA) {
			t.Errorf("the refusal links #%s, want #%s", anchor, policy.HelpTwoFA)
		}
		if b.get("/help/").find("section#"+anchor) == nil {
			t.Errorf("the refusal links #%s, which the help page does not have", anchor)
		}
	})
}
