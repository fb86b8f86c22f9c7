package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// policyFile is the shape of WHARF_POLICY_FILE: the 2FA mandate and the critical projects' requirement in one
// reviewable file, which an index announces and changes as its mandate advances.
//
//	[mandate]
//	notice = 2027-01-01
//	restrict = 2027-03-01
//	enforce = 2027-06-01T00:00:00Z
//	restricted = ["create-project", "manage-roles", "create-token"]
//	enforce_accounts_from = 2027-01-01
//	brownouts = [{ start = 2027-04-01T14:00:00Z, end = 2027-04-01T16:00:00Z }]
//
//	[critical]
//	require_keys = true
//	trusted_publishing_only = true
type policyFile struct {
	Mandate struct {
		Notice              instant    `toml:"notice"`
		Restrict            instant    `toml:"restrict"`
		Enforce             instant    `toml:"enforce"`
		Restricted          []string   `toml:"restricted"`
		EnforceAccountsFrom instant    `toml:"enforce_accounts_from"`
		Brownouts           []brownout `toml:"brownouts"`
	} `toml:"mandate"`
	Critical struct {
		RequireKeys           *bool `toml:"require_keys"`
		TrustedPublishingOnly *bool `toml:"trusted_publishing_only"`
	} `toml:"critical"`
}

type brownout struct {
	Start instant `toml:"start"`
	End   instant `toml:"end"`
}

// instant is a TOML date or date-time, or a string in the form the WHARF_* variables take; a date, or a time
// without an offset, is read as UTC.
type instant struct{ time.Time }

func (i *instant) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case time.Time:
		if isLocalTOML(v) {
			i.Time = time.Date(v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), time.UTC)
		} else {
			i.Time = v.UTC()
		}
		return nil
	case string:
		return dateInto(&i.Time)(v)
	}
	return fmt.Errorf("%v is not a date such as 2027-01-01 or 2027-01-01T12:00:00Z", v)
}

// isLocalTOML reports whether the TOML value had no offset: the decoder gives those zones of its own, named
// "datetime-local", "date-local" and "time-local".
func isLocalTOML(t time.Time) bool {
	return strings.HasSuffix(t.Location().String(), "-local")
}

// applyPolicyFile fills, from the file at path, the mandate and critical settings that the environment and the
// command line left unset: an administrator can keep the plan in the file and still override one date at start.
func (c *Config) applyPolicyFile(path string) error {
	var f policyFile
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return fmt.Errorf("WHARF_POLICY_FILE: %w", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return fmt.Errorf("WHARF_POLICY_FILE: %s: unknown setting %q", path, undecoded[0].String())
	}
	m := f.Mandate
	for _, d := range []struct {
		dst *time.Time
		v   instant
	}{{&c.MandateNotice, m.Notice}, {&c.MandateRestrict, m.Restrict}, {&c.MandateEnforce, m.Enforce},
		{&c.MandateEnforceAccountsFrom, m.EnforceAccountsFrom}} {
		if d.dst.IsZero() {
			*d.dst = d.v.Time
		}
	}
	if c.MandateRestricted == "" && len(m.Restricted) > 0 {
		c.MandateRestricted = strings.Join(m.Restricted, ",")
	}
	if c.MandateBrownouts == "" {
		var ws []string
		for _, b := range m.Brownouts {
			if b.Start.IsZero() || b.End.IsZero() {
				return fmt.Errorf("WHARF_POLICY_FILE: %s: every brown-out needs a start and an end", path)
			}
			ws = append(ws, b.Start.Format(time.RFC3339)+"/"+b.End.Format(time.RFC3339))
		}
		c.MandateBrownouts = strings.Join(ws, ",")
	}
	if f.Critical.RequireKeys != nil && !c.CriticalRequireKeys {
		c.CriticalRequireKeys = *f.Critical.RequireKeys
	}
	if f.Critical.TrustedPublishingOnly != nil && !c.CriticalTrustedPublishingOnly {
		c.CriticalTrustedPublishingOnly = *f.Critical.TrustedPublishingOnly
	}
	return nil
}
