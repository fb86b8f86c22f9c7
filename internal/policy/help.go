package policy

import "strings"

// HelpSection is a section of the index's help page, BASE/help/#SECTION, that explains a rule to the person it
// refuses. The anchors are PyPI's where PyPI has the section, so that what people know from there works here.
type HelpSection string

// The sections that refusals link to.
const (
	HelpAPIToken          HelpSection = "apitoken"
	HelpFileNameReuse     HelpSection = "file-name-reuse"
	HelpTwoFA             HelpSection = "twofa"
	HelpSecurityKeys      HelpSection = "security-keys"
	HelpTrustedPublishers HelpSection = "trusted-publishers"
	HelpMandate           HelpSection = "mandate"
	HelpCritical          HelpSection = "critical"
	HelpOrganizations     HelpSection = "organizations"
)

// HelpSections lists every section a refusal links to: the help page must have each one, and its test holds it to
// this list.
var HelpSections = []HelpSection{HelpAPIToken, HelpFileNameReuse, HelpTwoFA, HelpSecurityKeys, HelpTrustedPublishers,
	HelpMandate, HelpCritical, HelpOrganizations}

// HelpURL is the address of a section of the help page of the index at base.
func HelpURL(base string, s HelpSection) string {
	return strings.TrimSuffix(base, "/") + "/help/#" + string(s)
}

// ruleHelp is the section that explains each two-factor rule, for the refusals that name no section of their own.
var ruleHelp = map[string]HelpSection{
	RuleCritical:              HelpCritical,
	RuleProjectRequires2FA:    HelpTwoFA,
	RuleTokenBefore2FA:        HelpAPIToken,
	RuleNewRole:               HelpTwoFA,
	RuleTrustedPublishingOnly: HelpTrustedPublishers,
	RulePublishingNeeds2FA:    HelpTwoFA,
	RuleKeysRequired:          HelpSecurityKeys,
	RuleMandate:               HelpMandate,
	RuleOrgRequires2FA:        HelpOrganizations,
}

// linkHelp ends the reason with the link to the section that explains the refusal (its own, or its rule's), unless
// the reason already gives it in its own words, as those worded like PyPI's do.
func (d *Denied) linkHelp(base string) {
	if d.Help == "" {
		d.Help = ruleHelp[d.Rule]
	}
	if d.Help == "" {
		return
	}
	u := HelpURL(base, d.Help)
	if strings.Contains(d.Reason, u) {
		return
	}
	if !strings.HasSuffix(d.Reason, ".") {
		d.Reason += "."
	}
	d.Reason += " See " + u
}
