package policy

import (
	"context"
	"fmt"
)

// ClaimKeyOffer claims one code of the security-key offer: a free hardware security key for the Owners and
// Maintainers of critical projects who have none yet, as PyPI gave Titan keys to the maintainers of its critical
// projects. It is the actor's own business, on the website only; read-only mode leaves it alone, and the
// mandate's enforce phase does too, since it helps the account enrol the strongest factor.
const ClaimKeyOffer Action = "claim-key-offer"

// decideKeyOffer says who the offer is for (M9): a signed-in web session (not a token) of an Owner or Maintainer of at
// least one critical project, read at decision time, whose account has no security key or passkey yet.
func (e *Engine) decideKeyOffer(ctx context.Context, actor Actor) error {
	if actor.Token != nil {
		return &Denied{Help: HelpAPIToken, Reason: "API tokens can only upload. Sign in to the website to claim the security-key offer."}
	}
	critical, err := e.roles.MaintainsCritical(ctx, actor.User.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if !critical {
		return &Denied{Help: HelpCritical, Reason: fmt.Sprintf(
			"The security-key offer is for the Owners and Maintainers of critical projects, and '%s' maintains none. You can still add a security key or passkey of your own on your account page.",
			actor.User.Username)}
	}
	if actor.TwoFactor.WebAuthn {
		return &Denied{Reason: fmt.Sprintf(
			"The security-key offer is for maintainers who have no security key yet, and '%s' already has a security key or passkey: the offer is left for those who have none.",
			actor.User.Username)}
	}
	return nil
}
