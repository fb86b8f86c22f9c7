package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// The security-key offer: a maintainer of a critical project without a security key sees, on the account page,
// an offer of a free hardware security key and claims one code of those an administrator loaded (`wharf promo
// load`), once. Who may claim is the policy's decision (policy.ClaimKeyOffer); the store gives each account one
// code and never one code to two accounts.

// EventKeyOfferClaimed is the security-history event of a claim. Its detail names the batch, never the code.
const EventKeyOfferClaimed = "account:key-offer-claimed"

// keyOfferView is the offer box of the account page.
type keyOfferView struct {
	// Projects are the critical projects the account maintains, while the offer is open to it.
	Projects []string
	// NoneLeft says every code has been claimed.
	NoneLeft bool
	// Code is the code the account claimed, shown from then on in place of the offer.
	Code      string
	ClaimedAt time.Time
}

// keyOffer is what the account page shows of the offer: the claimed code, whoever the account is now; else the
// offer when the policy says it is for this account and codes were ever loaded; else nothing (nil).
func (s *Site) keyOffer(ctx context.Context, v *visitor) (*keyOfferView, error) {
	pc, err := s.db.PromoCodeOf(ctx, v.account.ID)
	if err == nil {
		return &keyOfferView{Code: pc.Code, ClaimedAt: pc.ClaimedAt}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	err = s.policy.Decide(ctx, s.actor(v), policy.ClaimKeyOffer, policy.Target{})
	if errors.Is(err, policy.ErrDenied) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := s.db.PromoCounts(ctx)
	if err != nil {
		return nil, err
	}
	if n.Loaded == 0 {
		return nil, nil // this index makes no offer
	}
	projects, err := s.db.CriticalProjectsOf(ctx, v.account.ID)
	if err != nil {
		return nil, err
	}
	return &keyOfferView{Projects: projects, NoneLeft: n.Left == 0}, nil
}

// ClaimKeyOffer claims one code of the security-key offer (M9) for the signed-in account, when the policy says the
// offer is for it. An account that claimed already is shown its code again, never a second one; the first claim
// goes to the account's security history.
func (s *Site) ClaimKeyOffer(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.ClaimKeyOffer, back: "/manage/account/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	pc, claimed, err := s.db.ClaimPromoCode(ctx, v.account.ID, s.now())
	if errors.Is(err, store.ErrNoPromoCodes) {
		return httperror.New(http.StatusConflict,
			"Every code of the security-key offer has been claimed: none is left for now. You can still add a security key or passkey of your own.")
	}
	if err != nil {
		return err
	}
	if claimed {
		detail := "claimed a code of the security-key offer"
		if pc.Batch != "" {
			detail += " (batch " + pc.Batch + ")"
		}
		// The claim stands whether or not its event could be written; the log says when it could not.
		_ = s.audit.Record(ctx, EventKeyOfferClaimed, v.account.ID, 0, requestOf(r), detail)
	}
	redirect(w, r, "/manage/account/?notice=key-offer-claimed#key-offer")
	return nil
}
