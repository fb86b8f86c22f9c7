package policy

import "fmt"

// Reports of projects to the administrators: malware, spam, typo-squatting.
const (
	// ReportProject reports a project (Target.Project) to the administrators. It changes nothing the index
	// serves, so read-only mode and the mandate's enforce phase leave it open: a maintainer without a second
	// factor who finds malware must still be able to say so.
	ReportProject Action = "report-project"
	// ViewReports reads the reports, which name who reported what: for the administrators only, never for the
	// reported project's Owners.
	ViewReports Action = "view-reports"
)

// decideReport says who may report a project: a signed-in web session (a leaked API token must not file reports
// in its owner's name) of an account whose address is verified, so that the administrators can reach the reporter
// and a throwaway account cannot flood them.
func decideReport(actor Actor, target Target) error {
	if target.Project == nil {
		return fmt.Errorf("policy: %s needs a project", ReportProject)
	}
	if actor.Token != nil {
		return &Denied{Help: HelpAPIToken, Reason: "API tokens can only upload. Sign in to the website to report a project."}
	}
	if !actor.EmailVerified {
		return &Denied{Reason: fmt.Sprintf(
			"The user '%s' has no verified email address. Verify your address on your account page, then report project '%s' again: the administrators must be able to reach you about it.",
			actor.User.Username, target.Project.Name)}
	}
	return nil
}
