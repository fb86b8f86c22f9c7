package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	site = "Example Index"
	base = "https://index.example.org"
)

func TestTemplates(t *testing.T) {
	tp, err := NewTemplates(site, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	const to = "alice@example.com"
	notYou := []string{base + "/account/reset-password/", base + "/manage/account/"}
	for _, tc := range []struct {
		name        string
		build       func() (Message, error)
		wantKind    string
		wantSubject string
		wantText    []string // each must appear in the body
	}{
		{
			name: "CriticalProject without a second factor",
			build: func() (Message, error) {
				return tp.CriticalProject(to, "sampleproject", "Maintainer", "it is among the top 1 % of projects by downloads.", false)
			},
			wantKind:    KindCriticalProject,
			wantSubject: "sampleproject is now a critical project on Example Index",
			wantText: []string{"(Maintainer)", "top 1 %", "Your account has no second factor yet",
				base + "/manage/account/\n", base + "/manage/account/token/\n"},
		},
		{
			name: "CriticalProject with a second factor",
			build: func() (Message, error) {
				return tp.CriticalProject(to, "sampleproject", "Owner", "an administrator designated it.", true)
			},
			wantKind:    KindCriticalProject,
			wantSubject: "sampleproject is now a critical project on Example Index",
			wantText:    []string{"there is nothing to do,\nunless", "created before it was enabled", base + "/manage/account/token/"},
		},
		{
			name: "MandateReminder",
			build: func() (Message, error) {
				return tp.MandateReminder(to, "kim", "From 2027-06-01 the account will only be able to enrol a second factor.", "creating projects")
			},
			wantKind:    KindMandateReminder,
			wantSubject: "Two-factor authentication is becoming required on Example Index",
			wantText: []string{"your account kim.", "From 2027-06-01", "Already refused to your account: creating projects",
				base + "/manage/account/\n", base + "/manage/account/token/\n", "at most once a week"},
		},
		{
			name:        "VerifyEmail",
			build:       func() (Message, error) { return tp.VerifyEmail(to, base+"/account/verify-email/?token=abc123") },
			wantKind:    KindVerifyEmail,
			wantSubject: "Verify your email address for Example Index",
			wantText:    []string{"\n" + base + "/account/verify-email/?token=abc123\n", "If you did not add it, ignore this message"},
		},
		{
			name:        "PasswordReset",
			build:       func() (Message, error) { return tp.PasswordReset(to, base+"/account/reset-password/?token=xyz") },
			wantKind:    KindPasswordReset,
			wantSubject: "Reset your Example Index password",
			wantText:    []string{"\n" + base + "/account/reset-password/?token=xyz\n", "If you did not ask for this", base + "/manage/account/"},
		},
		{
			name:        "PasswordChanged",
			build:       func() (Message, error) { return tp.PasswordChanged(to) },
			wantKind:    KindPasswordChanged,
			wantSubject: "Your Example Index password was changed",
			wantText:    append([]string{"If you did not, someone else can sign in as you"}, notYou...),
		},
		{
			name:        "EmailAdded",
			build:       func() (Message, error) { return tp.EmailAdded(to, "new@example.net") },
			wantKind:    KindEmailAdded,
			wantSubject: "An email address was added to your Example Index account",
			wantText:    append([]string{"The email address new@example.net was added", "If you did not"}, notYou...),
		},
		{
			name:        "TokenCreated",
			build:       func() (Message, error) { return tp.TokenCreated(to, "CI for sampleproject", "project: sampleproject") },
			wantKind:    KindTokenCreated,
			wantSubject: "A new API token was created for your Example Index account",
			wantText: append([]string{`Name:  "CI for sampleproject"`, "Scope: project: sampleproject",
				"If you did not, revoke it now"}, notYou...),
		},
		{
			name: "TokenLeaked",
			build: func() (Message, error) {
				return tp.TokenLeaked(to, "CI for sampleproject", "0123456789abcdef0123456789abcdef",
					"https://github.com/octocat/hello/blob/1a2b3c/deploy.sh", "GitHub secret scanning")
			},
			wantKind:    KindTokenLeaked,
			wantSubject: "An API token of your Example Index account was found in public and revoked",
			wantText: append([]string{"GitHub secret scanning found an API token",
				"\nhttps://github.com/octocat/hello/blob/1a2b3c/deploy.sh\n", `Name:     "CI for sampleproject"`,
				"Token id: 0123456789abcdef0123456789abcdef", "revoked it at once", base + "/manage/account/token/\n",
				base + "/manage/projects/\n"}, notYou...),
		},
		{
			name: "TokenLeaked without an address",
			build: func() (Message, error) {
				return tp.TokenLeaked(to, "ci", "0123456789abcdef0123456789abcdef", "", "GitHub secret scanning")
			},
			wantKind:    KindTokenLeaked,
			wantSubject: "An API token of your Example Index account was found in public and revoked",
			wantText:    []string{"in public (it did not say where).\n", `Name:     "ci"`},
		},
		{
			name:        "RoleChanged",
			build:       func() (Message, error) { return tp.RoleChanged(to, "sampleproject", "Maintainer") },
			wantKind:    KindRoleChanged,
			wantSubject: "Your role on sampleproject changed",
			wantText:    append([]string{"Your role on the project sampleproject on Example Index is now: Maintainer."}, notYou...),
		},
		{
			name:        "RoleChanged to no role",
			build:       func() (Message, error) { return tp.RoleChanged(to, "sampleproject", "") },
			wantKind:    KindRoleChanged,
			wantSubject: "Your role on sampleproject changed",
			wantText:    append([]string{"You no longer have a role on the project sampleproject on Example Index."}, notYou...),
		},
		{
			name: "Invitation",
			build: func() (Message, error) {
				return tp.Invitation(to, "sampleproject", "Owner", "bob", base+"/manage/invitations/?token=inv")
			},
			wantKind:    KindInvitation,
			wantSubject: "bob invited you to sampleproject on Example Index",
			wantText: []string{"bob invited you to join the project sampleproject on Example Index\nwith the role: Owner.",
				"\n" + base + "/manage/invitations/?token=inv\n", "If you do not know bob"},
		},
		{
			name: "OrgInvitation",
			build: func() (Message, error) {
				return tp.OrgInvitation(to, "acme", "Member", "bob", base+"/manage/organizations/")
			},
			wantKind:    KindOrgInvitation,
			wantSubject: "bob invited you to the organization acme on Example Index",
			wantText: []string{"bob invited you to join the organization acme on Example Index\nwith the role: Member.",
				"\n" + base + "/manage/organizations/\n", "If you do not know bob"},
		},
		{
			name: "ProjectReported",
			build: func() (Message, error) {
				return tp.ProjectReported(to, "sampleproject", "bob", "malware", "setup.py downloads a binary.",
					base+"/admin/reports/")
			},
			wantKind:    KindProjectReported,
			wantSubject: "sampleproject was reported as malware on Example Index",
			wantText: []string{"bob reported the project sampleproject on Example Index", "as: malware.",
				"\nsetup.py downloads a binary.\n", base + "/project/sampleproject/\n", base + "/admin/reports/\n"},
		},
		{
			name:        "NewLogin",
			build:       func() (Message, error) { return tp.NewLogin(to, "2001:db8::7", "Mozilla/5.0 (X11; Linux x86_64)") },
			wantKind:    KindNewLogin,
			wantSubject: "New sign-in to your Example Index account",
			wantText: append([]string{"IP address: 2001:db8::7", "Browser:    Mozilla/5.0 (X11; Linux x86_64)",
				"If it was not"}, notYou...),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Message{To: to, Subject: tc.wantSubject, Kind: tc.wantKind}, Message{To: m.To, Subject: m.Subject, Kind: m.Kind}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, want := range append([]string{"Example Index, " + base + "\n", "Hello,\n"}, tc.wantText...) {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
			}
			if strings.Contains(m.Text, "<no value>") || strings.Contains(m.Text, "{{") {
				t.Errorf("text has an unfilled value:\n%s", m.Text)
			}
			for i, line := range strings.Split(m.Text, "\n") {
				if len([]rune(line)) > 78 {
					t.Errorf("line %d is longer than 78 characters: %q", i+1, line)
				}
			}
			// What the templates build, the mailers accept.
			o, _ := newOutbox(t, fixed(epoch))
			if err := o.Send(t.Context(), m); err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
}

// TestTemplatesCleanUserValues gives every user-chosen value a line break and a bidirectional override: the
// message must still be sendable, with no forged header and no hidden text.
func TestTemplatesCleanUserValues(t *testing.T) {
	tp, err := NewTemplates(site, base)
	if err != nil {
		t.Fatal(err)
	}
	const evil = "x\r\nBcc: eve@example.com\u202e"
	link := base + "/manage/invitations/?token=inv"
	builds := map[string]func() (Message, error){
		"TokenCreated": func() (Message, error) { return tp.TokenCreated("a@example.com", evil, evil) },
		"RoleChanged":  func() (Message, error) { return tp.RoleChanged("a@example.com", evil, evil) },
		"Invitation":   func() (Message, error) { return tp.Invitation("a@example.com", evil, evil, evil, link) },
		"NewLogin":     func() (Message, error) { return tp.NewLogin("a@example.com", evil, evil) },
		"EmailAdded":   func() (Message, error) { return tp.EmailAdded("a@example.com", evil) },
		"ProjectReported": func() (Message, error) {
			return tp.ProjectReported("a@example.com", evil, evil, evil, evil, base+"/admin/reports/")
		},
		"long values": func() (Message, error) {
			return tp.Invitation("a@example.com", strings.Repeat("p", 500), "Owner", strings.Repeat("i", 500), link)
		},
	}
	for name, build := range builds {
		t.Run(name, func(t *testing.T) {
			m, err := build()
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"\r", "\nBcc", "\u202e"} {
				if strings.Contains(m.Subject, bad) || strings.Contains(m.Text, bad) {
					t.Errorf("%q survived into the message", bad)
				}
			}
			o, _ := newOutbox(t, fixed(epoch))
			if err := o.Send(t.Context(), m); err != nil {
				t.Errorf("Send: %v", err)
			}
			list, err := o.List()
			if err != nil || len(list) != 1 {
				t.Fatalf("List: %v, %v", list, err)
			}
			raw, err := o.Read(list[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := parse(t, raw).Header["Bcc"]; ok {
				t.Error("a Bcc header was forged")
			}
		})
	}
}

func TestTemplatesRefuseForeignLinks(t *testing.T) {
	tp, err := NewTemplates(site, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{
		"https://evil.example/account/reset-password/?token=SECRET",
		"https://index.example.org.evil.example/account/reset-password/?token=SECRET",
		"https://index.example.org@evil.example/?token=SECRET",
		"http://index.example.org/account/reset-password/?token=SECRET",
		"/account/reset-password/?token=SECRET",
		"https://index.example.org",
		"https://index.example.org/?token=SECRET\r\nBcc: eve@example.com",
		"javascript:alert(1)//https://index.example.org/?token=SECRET",
	} {
		builds := map[string]func() (Message, error){
			"VerifyEmail":   func() (Message, error) { return tp.VerifyEmail("a@example.com", link) },
			"PasswordReset": func() (Message, error) { return tp.PasswordReset("a@example.com", link) },
			"Invitation":    func() (Message, error) { return tp.Invitation("a@example.com", "p", "Owner", "bob", link) },
		}
		for name, build := range builds {
			_, err := build()
			if !errors.Is(err, ErrForeignLink) {
				t.Errorf("%s(%q): err = %v, want ErrForeignLink", name, link, err)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("%s: the error repeats the link's secret: %v", name, err)
			}
		}
	}
}

func TestNewTemplatesValidates(t *testing.T) {
	for _, tc := range []struct{ name, site, base string }{
		{"relative base URL", site, "/index"},
		{"no scheme", site, "index.example.org"},
		{"ftp", site, "ftp://index.example.org"},
		{"query", site, "https://index.example.org/?x=1"},
		{"empty site name", " ", base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewTemplates(tc.site, tc.base); err == nil {
				t.Errorf("NewTemplates(%q, %q) succeeded", tc.site, tc.base)
			}
		})
	}
}
