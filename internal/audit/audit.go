// Package audit writes the append-only security history: one UTC row per security event, with who, from where
// and what.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wharf/internal/store"
)

// Event kinds. They are stable strings: the history pages and scripts read them.
const (
	FileUploaded   = "file:upload"
	ProjectCreated = "project:create"
	TokenCreated   = "token:create"
	TokenFirstUse  = "token:first-use"
	TokenRevoked   = "token:revoke"
	TokenLeaked    = "token:leaked" // a secret scanner found the token in public; it was revoked (K9)
	UserCreated    = "user:create"
)

// ProjectReported is a signed-in user's report of a project to the administrators (malware, spam, ...): it is
// for the administrators' eyes, not for the project's Owners'.
const ProjectReported = "project:report"

// ErrReason refuses an administrator's change to who is protected (a critical project, early enforcement) without
// a usable reason: the history must say why, on one line.
var ErrReason = errors.New("give the reason on one line of at most 200 characters: the security history must say why")

// CheckReason says whether reason can stand in the history as the why of an administrator's change.
func CheckReason(reason string) error {
	if strings.TrimSpace(reason) == "" || strings.ContainsAny(reason, "\r\n") || utf8.RuneCountInString(reason) > 200 {
		return ErrReason
	}
	return nil
}

// Sink is where events go.
type Sink interface {
	AddEvent(ctx context.Context, e store.Event) error
}

// Log records security events.
type Log struct {
	sink Sink
	now  func() time.Time
	log  *slog.Logger
}

// New builds a Log.
func New(sink Sink, now func() time.Time, log *slog.Logger) *Log {
	return &Log{sink: sink, now: now, log: log}
}

// Request is where an event came from.
type Request struct {
	IP        string
	UserAgent string
}

// Record appends an event. A failure to record is logged and returned: callers of security-relevant writes decide
// whether it must fail the request.
func (l *Log) Record(ctx context.Context, kind string, userID, projectID int64, from Request, detail string) error {
	return l.RecordOrg(ctx, kind, userID, projectID, 0, from, detail)
}

// RecordOrg appends an event of an organization (and, when not 0, of the user and the project it concerns).
func (l *Log) RecordOrg(ctx context.Context, kind string, userID, projectID, orgID int64, from Request, detail string) error {
	e := store.Event{
		CreatedAt: l.now().UTC(), Kind: kind, UserID: userID, ProjectID: projectID, OrgID: orgID,
		IP: Clean(from.IP, 64), UserAgent: Clean(from.UserAgent, 512), Detail: Clean(detail, 2048),
	}
	if err := l.sink.AddEvent(ctx, e); err != nil {
		l.log.Error("audit event not recorded", "kind", kind, "user", userID, "org", orgID, "err", err)
		return err
	}
	return nil
}

// Clean encodes control and other non-printing characters as \x.. / \u.... escapes and bounds the length, so a
// user agent or a name can neither forge extra lines in a log or page nor grow a row without bound.
func Clean(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToASCII(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
