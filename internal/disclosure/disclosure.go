// Package disclosure takes reports of leaked API tokens from secret scanners, in the format GitHub secret scanning
// sends to its partners (and to PyPI's /_/secrets/disclose-token): a JSON list of {"token", "type", "url",
// "source"} signed with one of the scanner's published ECDSA P-256 keys. A report whose signature verifies has every
// wharf token it names revoked at once, expired or not; the owner is mailed where it was found and what to do, and
// the revocation is in the owner's security history. The answer never says what a report held (K9).
//
// The rules are here; reading the HTTP request is internal/server's.
package disclosure

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"

	"wharf/internal/audit"
	"wharf/internal/notify"
	"wharf/internal/store"
)

// MaxBody bounds a report's body. GitHub sends the matches of one scan together; 1 MiB holds thousands of them.
const MaxBody = 1 << 20

// Reporter names the scanner in mail.
const Reporter = "GitHub secret scanning"

// sendTimeout bounds the delivery of one owner's mail, so that a stuck relay cannot hold a report for long.
const sendTimeout = 30 * time.Second

// Errors from Disclose; match them with errors.Is. Each is the scanner's fault except ErrKeysUnavailable.
var (
	ErrNoSignature     = errors.New("disclosure: the key identifier or the signature is missing")
	ErrUnknownKey      = errors.New("disclosure: the scanner lists no public key with this identifier")
	ErrBadSignature    = errors.New("disclosure: the signature does not verify")
	ErrKeysUnavailable = errors.New("disclosure: the scanner's public keys could not be fetched")
	ErrTooLarge        = fmt.Errorf("disclosure: the body is larger than %d bytes", MaxBody)
	ErrMalformed       = errors.New("disclosure: the body is not a JSON list of reports")
)

// Revoker revokes a reported token (tokens.Service).
type Revoker interface {
	RevokeLeaked(ctx context.Context, token, url string, from audit.Request) (store.Token, bool, error)
}

// Accounts finds a token's owner, to mail them.
type Accounts interface {
	AccountByID(ctx context.Context, id int64) (store.Account, error)
}

// Letters builds the owner's mail (notify.Templates).
type Letters interface {
	TokenLeaked(to, name, id, foundAt, reporter string) (notify.Message, error)
}

// Service checks and acts on disclosures.
type Service struct {
	keys     *Keys
	tokens   Revoker
	accounts Accounts
	mailer   notify.Mailer
	letters  Letters
	log      *slog.Logger
}

// New builds the service.
func New(keys *Keys, tokens Revoker, accounts Accounts, mailer notify.Mailer, letters Letters, log *slog.Logger) *Service {
	return &Service{keys: keys, tokens: tokens, accounts: accounts, mailer: mailer, letters: letters, log: log}
}

// Request is one disclosure as it arrived.
type Request struct {
	Body      []byte // exactly as received: the signature covers these bytes
	KeyID     string // the Github-Public-Key-Identifier header
	Signature string // the Github-Public-Key-Signature header: base64 of an ASN.1 DER ECDSA signature
	From      audit.Request
}

// report is one match. Its "type" is not read: it is the name the scanner was given for wharf's pattern, and a
// string is acted on only if it proves to be a wharf token, whatever it is called.
type report struct {
	Token  string `json:"token"`
	URL    string `json:"url"`    // where it was found; may be empty
	Source string `json:"source"` // what it was found in ("content", "commit", "issue_comment", ...): logged
}

// Disclose verifies r's signature before it reads anything else of the body, then revokes every wharf token the
// reports name. Strings that are not this server's tokens (another service's secret, a forgery, a token whose
// record is missing) are passed over, and so are reports that are not objects with a string token: nil comes back
// whatever the reports held, so the answer cannot tell which tokens exist (K9). A token named twice is revoked
// once. An error is returned for a request that is not a signed list of reports, and when the database failed
// (after every report was tried), so that the scanner may send it again.
func (s *Service) Disclose(ctx context.Context, r Request) error {
	if r.KeyID == "" || r.Signature == "" {
		return ErrNoSignature
	}
	if len(r.Body) > MaxBody {
		return ErrTooLarge
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil {
		return ErrBadSignature
	}
	if err := s.keys.Verify(ctx, r.KeyID, r.Body, sig); err != nil {
		return err
	}
	// Only signed bytes reach the JSON parser.
	var raw []json.RawMessage
	if b := strings.TrimLeft(string(r.Body), " \t\r\n"); !strings.HasPrefix(b, "[") {
		return ErrMalformed // null, an object or a string would decode into a nil list
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		return ErrMalformed
	}
	// The revocations finish even if the scanner hangs up: a leaked token must not stay live half-way through.
	ctx = context.WithoutCancel(ctx)
	seen := make(map[string]bool, len(raw))
	var failed error
	for _, m := range raw {
		var rep report
		if err := json.Unmarshal(m, &rep); err != nil || rep.Token == "" || seen[rep.Token] {
			continue
		}
		seen[rep.Token] = true
		if err := s.revoke(ctx, rep, r.From); err != nil {
			failed = err
		}
	}
	return failed
}

// revoke acts on one report: the revocation and its event (tokens.Service.RevokeLeaked), then the owner's mail. A
// mail that cannot be built or sent is logged: the token is dead either way.
func (s *Service) revoke(ctx context.Context, rep report, from audit.Request) error {
	where := publicURL(rep.URL)
	rec, revoked, err := s.tokens.RevokeLeaked(ctx, rep.Token, where, from)
	if err != nil {
		s.log.Error("leaked-token disclosure: revocation failed", "err", err)
		return err
	}
	if !revoked {
		return nil
	}
	s.log.Info("leaked token revoked", "token_id", rec.ID, "user", rec.UserID, "url", where, "source", rep.Source)
	acct, err := s.accounts.AccountByID(ctx, rec.UserID)
	if err != nil {
		s.log.Error("leaked-token disclosure: owner not read; no mail", "token_id", rec.ID, "user", rec.UserID, "err", err)
		return nil
	}
	m, err := s.letters.TokenLeaked(acct.Email, rec.Name, rec.ID, where, Reporter)
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
		err = s.mailer.Send(sendCtx, m)
		cancel()
	}
	if err != nil {
		s.log.Error("leaked-token disclosure: owner not mailed", "token_id", rec.ID, "user", rec.UserID, "err", err)
	}
	return nil
}

// publicURL is where the scanner says it found the token, if that is an absolute http(s) URL without control
// characters or credentials, and at most 2000 bytes; otherwise nothing, rather than text of unknown shape in a
// mail.
func publicURL(s string) string {
	if len(s) > 2000 || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return s
}
