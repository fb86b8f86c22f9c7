package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"wharf/internal/audit"
	"wharf/internal/ident"
	"wharf/internal/store"
)

// Errors of the mailed-link flows.
var (
	// ErrLinkInvalid is every refusal of a mailed link. Alone, it answers what the link does not say to whoever
	// holds it: that the account was disabled, or that its address changed, since the link was sent.
	ErrLinkInvalid = errors.New("this link is not valid: it was already used, has expired, or was replaced by a newer one")
	// ErrLinkAltered: the token is not one that wharf makes, or no link of the flow has it. A mail client that
	// cuts a long link, or a copy of part of it, ends here. It is also all that a guessed token ever gets: with
	// 256 random bits, telling it apart from a spent link tells a prober nothing.
	ErrLinkAltered error = linkError("this link is incomplete or was changed on the way")
	// ErrLinkUsed: the link was used, or a newer link or a new password voided it; the database keeps both as
	// used.
	ErrLinkUsed error = linkError("this link was already used, or a newer one replaced it")
	// ErrLinkExpired: the link was not used in time.
	ErrLinkExpired     error = linkError("this link has expired")
	ErrAlreadyVerified       = errors.New("this email address is already verified")
)

// linkError is a refusal of a link that its holder can tell apart by themselves (the mail they have, its date,
// whether they used it), so saying which one helps them and no one else. Each is also ErrLinkInvalid.
type linkError string

func (e linkError) Error() string { return string(e) }

func (e linkError) Is(target error) bool { return target == ErrLinkInvalid }

// CheckVerifyLink says, without spending it, whether a verification link can still be used: nil, ErrLinkAltered,
// ErrLinkUsed or ErrLinkExpired. The page a link leads to asks first, so that it does not offer a button that
// cannot work.
func (u *Users) CheckVerifyLink(ctx context.Context, rawToken string) error {
	return u.checkLink(ctx, rawToken, store.PurposeVerifyEmail)
}

// CheckResetLink is CheckVerifyLink for a password reset link: the person learns that it cannot work before they
// choose a password.
func (u *Users) CheckResetLink(ctx context.Context, rawToken string) error {
	return u.checkLink(ctx, rawToken, store.PurposeResetPassword)
}

func (u *Users) checkLink(ctx context.Context, rawToken, purpose string) error {
	hash, ok := hashSecret(rawToken)
	if !ok {
		return ErrLinkAltered
	}
	_, err := u.liveLink(ctx, hash, purpose)
	return err
}

// liveLink reads a link's record without spending it, and says why it cannot be used.
func (u *Users) liveLink(ctx context.Context, hash, purpose string) (store.EmailToken, error) {
	link, err := u.db.EmailTokenByHash(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.EmailToken{}, ErrLinkAltered
	case err != nil:
		return store.EmailToken{}, fmt.Errorf("check link: %w", err)
	case link.Purpose != purpose:
		// A link of another flow pasted here is, for this flow, no link at all.
		return store.EmailToken{}, ErrLinkAltered
	case !link.UsedAt.IsZero():
		return store.EmailToken{}, ErrLinkUsed
	case !u.now().Before(link.ExpiresAt):
		return store.EmailToken{}, ErrLinkExpired
	}
	return link, nil
}

// spent says why UseEmailToken refused a link, which another request may have spent in the meantime.
func (u *Users) spent(ctx context.Context, hash, purpose string) error {
	if _, err := u.liveLink(ctx, hash, purpose); err != nil {
		return err
	}
	return ErrLinkInvalid
}

// StartReset begins a password reset for a username or an email address. When it names an active account it
// returns the account (whose Email the caller mails) and the raw token for the link; otherwise found is false and
// the other results are zero. Both paths do the same work but for the token's insert (no argon2 on either: a
// dummy hash only on the missing path would make that path the slow one), so the reply cannot enumerate accounts
// (R4) provided the caller answers identically and queues the mail rather than sending it in the request. A
// disabled account gets no link. Older reset links stay valid until one is used or the password changes.
func (u *Users) StartReset(ctx context.Context, usernameOrEmail string, from audit.Request) (acct store.Account, rawToken string, found bool, err error) {
	who := strings.TrimSpace(usernameOrEmail)
	// Usernames cannot contain '@'. The key is asked, not the text, so that an address typed with a full-width
	// '＠' is taken for the address it is.
	if strings.Contains(ident.Key(who), "@") {
		acct, err = u.db.AccountByEmail(ctx, who)
	} else {
		acct, err = u.db.AccountByName(ctx, who)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Account{}, "", false, fmt.Errorf("start reset: %w", err)
	}
	exists := err == nil
	token, hash, err := newSecret()
	if err != nil {
		return store.Account{}, "", false, fmt.Errorf("start reset: %w", err)
	}
	switch {
	case !exists:
		record(ctx, u.rec, PasswordResetStarted, 0, from, "no such account: no link sent")
		return store.Account{}, "", false, nil
	case acct.Disabled:
		record(ctx, u.rec, PasswordResetStarted, acct.ID, from, "account disabled: no link sent")
		return store.Account{}, "", false, nil
	}
	now := u.now()
	err = u.db.CreateEmailToken(ctx, store.EmailToken{Hash: hash, UserID: acct.ID, Purpose: store.PurposeResetPassword,
		Email: acct.Email, CreatedAt: now, ExpiresAt: now.Add(u.resetTTL)})
	if err != nil {
		return store.Account{}, "", false, fmt.Errorf("start reset: %w", err)
	}
	record(ctx, u.rec, PasswordResetStarted, acct.ID, from, "link sent to "+acct.Email)
	return acct, token, true, nil
}

// FinishReset sets a new password with a reset link's token. The link is checked and the new password held to
// every rule before the link is spent, so a refused password leaves the link usable; spending it is atomic, so a
// link works once however many requests race. Then every session of the account ends and every other reset link
// dies. Following the link proves the address, so an unverified one becomes verified. The user signs in again
// afterwards (with the second factor, where there is one): a reset never signs anyone in.
func (u *Users) FinishReset(ctx context.Context, rawToken, newPassword string, from audit.Request) (store.Account, error) {
	hash, ok := hashSecret(rawToken)
	if !ok {
		return store.Account{}, ErrLinkAltered
	}
	link, err := u.liveLink(ctx, hash, store.PurposeResetPassword)
	if err != nil {
		return store.Account{}, err
	}
	acct, err := u.db.AccountByID(ctx, link.UserID)
	if err != nil {
		return store.Account{}, fmt.Errorf("finish reset: %w", err)
	}
	if acct.Disabled || ident.Key(acct.Email) != ident.Key(link.Email) {
		return store.Account{}, ErrLinkInvalid
	}
	if err := u.hasher.CheckFor(newPassword, acct.Username, acct.Email); err != nil {
		return store.Account{}, err
	}
	pwHash, err := u.hasher.Hash(newPassword)
	if err != nil {
		return store.Account{}, fmt.Errorf("finish reset: %w", err)
	}
	now := u.now() // the hash took a while; the link must still be live now
	if _, err := u.db.UseEmailToken(ctx, hash, store.PurposeResetPassword, now); errors.Is(err, store.ErrNotFound) {
		return store.Account{}, u.spent(ctx, hash, store.PurposeResetPassword)
	} else if err != nil {
		return store.Account{}, fmt.Errorf("finish reset: %w", err)
	}
	if err := u.db.SetPasswordAndRevoke(ctx, acct.ID, pwHash, now, ""); err != nil {
		return store.Account{}, fmt.Errorf("finish reset: %w", err)
	}
	if acct.EmailVerifiedAt.IsZero() {
		if err := u.db.SetEmailVerified(ctx, acct.ID, link.Email, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Account{}, fmt.Errorf("finish reset: %w", err)
		}
	}
	acct, err = u.db.AccountByID(ctx, acct.ID)
	if err != nil {
		return store.Account{}, fmt.Errorf("finish reset: %w", err)
	}
	record(ctx, u.rec, PasswordReset, acct.ID, from, "password reset by email link; all sessions ended")
	return acct, nil
}

// StartVerification mints a link that proves the user's current address and returns the address to mail it to
// and the raw token. Earlier verification links of the user stop working, so only the newest mail counts.
func (u *Users) StartVerification(ctx context.Context, userID int64, from audit.Request) (email, rawToken string, err error) {
	acct, err := u.db.AccountByID(ctx, userID)
	if err != nil {
		return "", "", fmt.Errorf("start verification: %w", err)
	}
	switch {
	case acct.Disabled:
		return "", "", ErrAccountDisabled
	case !acct.EmailVerifiedAt.IsZero():
		return "", "", ErrAlreadyVerified
	}
	token, hash, err := newSecret()
	if err != nil {
		return "", "", fmt.Errorf("start verification: %w", err)
	}
	now := u.now()
	if _, err := u.db.InvalidateEmailTokens(ctx, userID, store.PurposeVerifyEmail, now); err != nil {
		return "", "", fmt.Errorf("start verification: %w", err)
	}
	err = u.db.CreateEmailToken(ctx, store.EmailToken{Hash: hash, UserID: userID, Purpose: store.PurposeVerifyEmail,
		Email: acct.Email, CreatedAt: now, ExpiresAt: now.Add(u.verifyTTL)})
	if err != nil {
		return "", "", fmt.Errorf("start verification: %w", err)
	}
	record(ctx, u.rec, EmailVerifyStarted, userID, from, "link sent to "+acct.Email)
	return acct.Email, token, nil
}

// Verify spends a verification link and marks the address it was sent to as verified, provided it is still the
// account's address.
func (u *Users) Verify(ctx context.Context, rawToken string, from audit.Request) (store.Account, error) {
	hash, ok := hashSecret(rawToken)
	if !ok {
		return store.Account{}, ErrLinkAltered
	}
	now := u.now()
	link, err := u.db.UseEmailToken(ctx, hash, store.PurposeVerifyEmail, now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, u.spent(ctx, hash, store.PurposeVerifyEmail)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("verify email: %w", err)
	}
	if err := u.db.SetEmailVerified(ctx, link.UserID, link.Email, now); errors.Is(err, store.ErrNotFound) {
		return store.Account{}, ErrLinkInvalid
	} else if err != nil {
		return store.Account{}, fmt.Errorf("verify email: %w", err)
	}
	acct, err := u.db.AccountByID(ctx, link.UserID)
	if err != nil {
		return store.Account{}, fmt.Errorf("verify email: %w", err)
	}
	record(ctx, u.rec, EmailVerified, acct.ID, from, link.Email)
	return acct, nil
}

// ChangeEmail replaces the address of userID; the new one is unverified and every link sent to the old one dies.
// The caller requires a recent re-authentication first (Session.Sudo), mails a notice to the old address and a
// link from StartVerification to the new one.
func (u *Users) ChangeEmail(ctx context.Context, userID int64, newEmail string, from audit.Request) (store.Account, error) {
	address, err := parseEmail(newEmail)
	if err != nil {
		return store.Account{}, err
	}
	old, err := u.db.AccountByID(ctx, userID)
	if err != nil {
		return store.Account{}, fmt.Errorf("change email: %w", err)
	}
	if err := u.db.SetEmail(ctx, userID, address, u.now()); errors.Is(err, store.ErrConflict) {
		return store.Account{}, ErrEmailTaken
	} else if err != nil {
		return store.Account{}, err
	}
	acct, err := u.db.AccountByID(ctx, userID)
	if err != nil {
		return store.Account{}, fmt.Errorf("change email: %w", err)
	}
	record(ctx, u.rec, EmailChanged, userID, from, fmt.Sprintf("from %s to %s", old.Email, acct.Email))
	return acct, nil
}
